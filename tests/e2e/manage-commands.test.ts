import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { describeCall, fakeDocker, manage, serverCheckout } from "../support/fake-docker.ts";

/** migrate (pass-through), status, logs, shell and rollback, with the docker stand-in. */

const FAST = ["--interval", "0.1", "--timeout", "5"];
const DB = "backupctl-audit-db";
const APP = "backupctl";

describe("./manage migrate", () => {
  test("passes the command and its arguments to the migrator service, and its exit code back", async () => {
    const fake = await fakeDocker({
      running: [DB],
      fail: [{ match: ["migrator", "show", "--exit-code"], exitCode: 5, stdout: "[ ] AddTags\n" }],
    });
    const dir = await serverCheckout();

    const show = await manage(["migrate", "show", "--exit-code", "--dir", dir], { env: fake.env });
    expect(show.exitCode).toBe(5);
    expect(show.stdout).toBe("[ ] AddTags\n");

    const revert = await manage(["migrate", "revert", "--steps", "2", "--json", "--dir", dir], {
      env: fake.env,
    });
    expect(revert.exitCode).toBe(0);

    expect((await fake.calls()).map(describeCall)).toEqual([
      "version --format {{.Server.Version}}",
      "compose --profile migrate run --rm migrator show --exit-code",
      "version --format {{.Server.Version}}",
      "compose --profile migrate run --rm migrator revert --steps 2 --json",
    ]);
  });

  test("an unknown migrator command is a usage error", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    const result = await manage(["migrate", "generate", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      'error: unknown migrator command "generate": use run, show, revert, resolve, wait, version',
    );
    expect(await fake.calls()).toEqual([]);
  });
});

describe("./manage status", () => {
  test("containers, migrations (without starting anything) and the latest backups", async () => {
    const fake = await fakeDocker({ running: [DB, APP], health: { [APP]: ["starting"] } });
    const dir = await serverCheckout();
    await Bun.write(join(dir, "backups", "audit-20250101T000000Z.sql.gz"), "x".repeat(2048));
    await Bun.write(join(dir, "backups", "audit-20250301T000000Z.sql.gz"), "x");
    await Bun.write(join(dir, "backups", "unrelated.txt"), "x");

    const result = await manage(["status", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      [
        "containers:",
        `  ${DB.padEnd(20)} running, healthy`,
        `  ${APP.padEnd(20)} running, starting`,
        "migrations: 1 applied, 1 pending",
        "  [ ] AddBackupTypeToBackupLog1742467200000",
        "backups (newest first):",
        "  audit-20250301T000000Z.sql.gz  1 B",
        "  audit-20250101T000000Z.sql.gz  2.0 KiB",
        "",
      ].join("\n"),
    );
    expect((await fake.calls()).map(describeCall)).toEqual([
      "version --format {{.Server.Version}}",
      "compose ps --all --format json",
      "compose --profile migrate run --rm --no-deps migrator show --json",
    ]);

    const json = JSON.parse(
      (await manage(["status", "--json", "--dir", dir], { env: fake.env })).stdout,
    );
    expect(json.migrations).toEqual({
      applied: 1,
      pending: 1,
      pendingNames: ["AddBackupTypeToBackupLog1742467200000"],
    });
    expect(json.backups).toHaveLength(2);
  });

  test("with nothing running it says so and runs no migrator", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    const result = await manage(["status", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("(none: ./manage deploy starts them)");
    expect(result.stdout).toContain(`migrations: unknown (${DB} is not running)`);
    expect((await fake.calls()).some((c) => c.includes("migrator"))).toBe(false);
  });
});

test("status: a compose that does not work is an error, not an empty list: exit 36", async () => {
  const fake = await fakeDocker({ compose: false });
  const dir = await serverCheckout();
  const result = await manage(["status", "--dir", dir], { env: fake.env });
  expect(result.exitCode).toBe(36);
  expect(result.stderr.trim()).toBe(
    "error: docker compose ps failed (exit 1): docker: 'compose' is not a docker command.",
  );
});

describe("./manage logs and shell", () => {
  test("logs of one service or both", async () => {
    const fake = await fakeDocker({ running: [DB, APP] });
    const dir = await serverCheckout();
    const one = await manage(["logs", APP, "-n", "20", "--dir", dir], { env: fake.env });
    expect(one.exitCode).toBe(0);
    expect(one.stdout).toContain("listening on");
    expect((await manage(["logs", "--dir", dir], { env: fake.env })).exitCode).toBe(0);
    const calls = (await fake.calls()).map(describeCall).filter((c) => c.startsWith("compose"));
    expect(calls).toEqual([`compose logs --tail 20 ${APP}`, "compose logs --tail 100"]);

    const wrong = await manage(["logs", "postgres", "--dir", dir], { env: fake.env });
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr.trim()).toBe(`error: unknown service "postgres": use ${APP} or ${DB}`);
  });

  test("shell opens sh in the app container (no TTY asked for without a terminal)", async () => {
    const fake = await fakeDocker({ running: [DB, APP] });
    const dir = await serverCheckout();
    const result = await manage(["shell", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect((await fake.calls()).map(describeCall).at(-1)).toBe(`compose exec -T ${APP} sh`);
  });
});

describe("./manage rollback", () => {
  test("runs the :previous images again and waits for health", async () => {
    const fake = await fakeDocker({
      running: [DB, APP],
      images: {
        "backupctl:latest": "sha256:new-app",
        "backupctl:previous": "sha256:old-app",
        "backupctl-migrator:latest": "sha256:new-migrator",
        "backupctl-migrator:previous": "sha256:old-migrator",
      },
      health: { [APP]: [["healthy"], ["starting", "healthy"]] },
    });
    const dir = await serverCheckout();
    const result = await manage(["rollback", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain(
      "Rolled back: backupctl runs the previous images and is healthy",
    );
    const state = await fake.state();
    expect(state.containers[APP]?.image).toBe("sha256:old-app");
    expect(state.images["backupctl-migrator:latest"]).toBe("sha256:old-migrator");
  });

  test("with no :previous image there is nothing to roll back to: exit 31", async () => {
    const fake = await fakeDocker({ running: [DB, APP] });
    const dir = await serverCheckout();
    const result = await manage(["rollback", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(31);
    expect(result.stderr.trim()).toBe(
      "error: there is no backupctl:previous image to roll back to (./manage upgrade tags it before it builds)",
    );
    expect((await fake.calls()).some((c) => c.includes("up"))).toBe(false);
  });

  test("--dry-run prints the plan and runs nothing", async () => {
    const fake = await fakeDocker({ running: [DB, APP] });
    const dir = await serverCheckout();
    const result = await manage(["rollback", "--dry-run", "--dir", dir, ...FAST], {
      env: fake.env,
    });
    expect(result.exitCode).toBe(0);
    expect(await fake.calls()).toEqual([]);
    expect(result.stdout).toContain("docker image tag backupctl:previous backupctl:latest");
    expect(result.stdout).toContain(
      `docker compose -f ${dir}/docker-compose.yml up -d --no-build ${APP}`,
    );
  });
});
