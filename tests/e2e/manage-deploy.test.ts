import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describeCall, fakeDocker, manage, serverCheckout } from "../support/fake-docker.ts";

/**
 * `./manage deploy` against the recording docker stand-in (no Docker engine exists here): the
 * exact order of operations, each failure path, and a dry run that runs nothing.
 */

const FAST = ["--interval", "0.1", "--timeout", "5"];
const DB = "backupctl-audit-db";
const APP = "backupctl";

const PREFLIGHT = [
  "version --format {{.Server.Version}}",
  "compose version --short",
  "compose --profile migrate config --quiet",
];

/** The question deploy asks the database before migrating: does it hold anything yet? */
const HAS_DATA = `compose exec -T ${DB} psql -X -q -t -A -U backupctl -d backupctl_audit -c SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public')`;
const DUMP = `compose exec -T ${DB} pg_dump -U backupctl -d backupctl_audit --no-owner`;
/** psql's answer for a database that already has tables (a redeploy). */
const REDEPLOY = { psql: { exitCode: 0, stdout: "t\n" } };

describe("./manage deploy", () => {
  test("builds, starts the database, waits for it, migrates, starts the app, waits for it", async () => {
    const fake = await fakeDocker({
      health: { [DB]: ["starting", "starting", "healthy"], [APP]: ["starting", "healthy"] },
    });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });

    expect(result.stderr).toContain("Deployed: backupctl is running and healthy");
    expect(result.exitCode).toBe(0);
    expect((await fake.calls()).map(describeCall)).toEqual([
      ...PREFLIGHT,
      "compose --profile migrate build",
      `compose up -d --no-build ${DB}`,
      `compose ps --all --format json ${DB}`,
      `compose ps --all --format json ${DB}`,
      `compose ps --all --format json ${DB}`,
      HAS_DATA,
      "compose --profile migrate run --rm --build migrator",
      `compose up -d --no-build ${APP}`,
      `compose ps --all --format json ${APP}`,
      `compose ps --all --format json ${APP}`,
    ]);
    expect(result.stderr).toContain("The audit database is new: nothing to back up");
    // Every compose call on the project names the checkout's compose file.
    for (const call of await fake.calls()) {
      if (call[0] === "compose" && call[1] !== "version") {
        expect(call.slice(1, 3)).toEqual(["-f", `${dir}/docker-compose.yml`]);
      }
    }
    // Progress while waiting, and what ran, on stderr; stdout stays empty.
    expect(result.stderr).toContain(`waiting for ${DB} to be healthy: running, starting`);
    expect(result.stderr).toContain("$ docker compose -f");
    expect(result.stdout).toBe("");
    // The password in .env is never printed.
    expect(result.stderr).not.toContain("s3cret-Server-pw");
  });

  test("a migrator failure stops before the app: exit 4 with the migrator's error", async () => {
    const fake = await fakeDocker({
      migrator: {
        exitCode: 4,
        stderr:
          'Applying AddTags1750000000000\nerror: migration AddTags1750000000000 failed: column "tags" already exists\n',
      },
    });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });

    expect(result.exitCode).toBe(4);
    const lastLine = result.stderr.trim().split("\n").at(-1);
    expect(lastLine).toBe(
      'error: the migrator failed (exit 4): migration AddTags1750000000000 failed: column "tags" already exists; the app was not started',
    );
    const calls = (await fake.calls()).map(describeCall);
    expect(calls.at(-1)).toBe("compose --profile migrate run --rm --build migrator");
    expect(calls.some((c) => c.endsWith(` ${APP}`))).toBe(false);
  });

  test("a redeploy backs up the audit database before migrating, and says where", async () => {
    const fake = await fakeDocker(REDEPLOY);
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(0);
    const calls = (await fake.calls()).map(describeCall);
    const migrator = calls.indexOf("compose --profile migrate run --rm --build migrator");
    expect(calls.slice(migrator - 2, migrator)).toEqual([HAS_DATA, DUMP]);
    const backups = readdirSync(join(dir, "backups"));
    expect(backups).toEqual([expect.stringMatching(/^audit-\d{8}T\d{6}Z\.sql\.gz$/)]);
    expect(result.stderr).toContain(`Backed up the audit database to backups/${backups[0]} (`);
    expect(result.stderr).toContain(
      `Deployed: backupctl is running and healthy (backup: backups/${backups[0]})`,
    );
  });

  test("a redeploy whose backup fails migrates nothing: exit 34", async () => {
    const fake = await fakeDocker({
      ...REDEPLOY,
      pgDump: { exitCode: 1, stderr: "pg_dump: error: out of disk\n" },
    });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(34);
    expect(result.stderr.trim().split("\n").at(-1)).toBe(
      `error: pg_dump in ${DB} failed (exit 1): pg_dump: error: out of disk; nothing was migrated`,
    );
    const calls = (await fake.calls()).map(describeCall);
    expect(calls.some((c) => c.includes("migrator"))).toBe(false);
  });

  test("when it cannot tell whether the database holds data, it migrates nothing: exit 34", async () => {
    const fake = await fakeDocker({
      psql: { exitCode: 2, stderr: 'psql: error: FATAL:  role "backupctl" does not exist\n' },
    });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(34);
    expect(result.stderr.trim().split("\n").at(-1)).toStartWith(
      "error: cannot tell whether the audit database already holds data",
    );
    const calls = (await fake.calls()).map(describeCall);
    expect(calls.some((c) => c.includes("migrator"))).toBe(false);
  });

  test("a database that never becomes healthy: bounded wait, exit 31, nothing migrated", async () => {
    const fake = await fakeDocker({ health: { [DB]: ["starting"] } });
    const dir = await serverCheckout();
    const started = Date.now();
    // 2 s, so even a loaded machine polls the stand-in more than once before the deadline.
    const result = await manage(["deploy", "--dir", dir, "--interval", "0.1", "--timeout", "2"], {
      env: fake.env,
    });

    expect(result.exitCode).toBe(31);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.stderr).toContain(
      `error: ${DB} did not become healthy within 2 s (last status: running, starting; see ./manage logs ${DB})`,
    );
    const calls = (await fake.calls()).map(describeCall);
    expect(
      calls.filter((c) => c === `compose ps --all --format json ${DB}`).length,
    ).toBeGreaterThan(1);
    expect(calls.some((c) => c.includes("migrator") || c.endsWith(` ${APP}`))).toBe(false);
  });

  test("an --interval under 0.1 s is refused before anything runs (it would busy-poll docker)", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    for (const interval of ["0", "0.05"]) {
      const result = await manage(["deploy", "--dir", dir, "--interval", interval], {
        env: fake.env,
      });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trim()).toBe(
        `error: --interval must be at least 0.1 s (got "${interval}"): each check runs docker compose ps`,
      );
    }
    expect(await fake.calls()).toEqual([]);
  });

  test("an unhealthy database fails at once", async () => {
    const fake = await fakeDocker({ health: { [DB]: ["starting", "unhealthy"] } });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, "--interval", "0.1", "--timeout", "60"], {
      env: fake.env,
    });
    expect(result.exitCode).toBe(31);
    expect(result.stderr).toContain(`error: ${DB} is unhealthy: its healthcheck failed repeatedly`);
  });

  test("an app that does not become healthy: exit 31 after the migrations", async () => {
    const fake = await fakeDocker({ health: { [APP]: ["starting", "exited"] } });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(31);
    expect(result.stderr).toContain(`error: ${APP} has stopped (exited, exit code 1)`);
    const calls = (await fake.calls()).map(describeCall);
    expect(calls).toContain("compose --profile migrate run --rm --build migrator");
  });

  test("a failed build stops everything: exit 36", async () => {
    const fake = await fakeDocker({
      build: { exitCode: 1, stderr: "failed to solve: process did not complete successfully\n" },
    });
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(36);
    expect(result.stderr).toContain("error: docker compose build failed (exit 1):");
    expect((await fake.calls()).map(describeCall).at(-1)).toBe("compose --profile migrate build");
  });

  test("--dry-run prints every command of a real deploy, in order, and runs nothing", async () => {
    const fake = await fakeDocker(REDEPLOY);
    const dir = await serverCheckout();
    const dry = await manage(["deploy", "--dir", dir, "--dry-run", ...FAST], { env: fake.env });
    expect(dry.exitCode).toBe(0);
    expect(await fake.calls()).toEqual([]);

    const planned = dry.stdout
      .split("\n")
      .filter((line) => line.startsWith("docker "))
      .map((line) => line.replace(`-f ${dir}/docker-compose.yml `, ""));
    // The plan is the commands of a real run: the same list, each poll shown once.
    const real = await fakeDocker(REDEPLOY);
    expect((await manage(["deploy", "--dir", dir, ...FAST], { env: real.env })).exitCode).toBe(0);
    const ran = [...new Set((await real.calls()).map((c) => `docker ${describeCall(c)}`))];
    // Shell quoting and the dump's `> file` are how the plan shows a command, not what runs.
    const unquoted = (line: string) =>
      line.replace(/ > \S+$/, "").replace(/'\\''|'/g, (q) => (q === "'" ? "" : "'"));
    expect(planned.map(unquoted)).toEqual(ran);
    expect(dry.stdout).toContain(`until ${DB} is healthy, for at most 5 s`);
  });

  test("preflight problems are all listed, and deploy stops before building: exit 30", async () => {
    const fake = await fakeDocker({ engine: false });
    const dir = await serverCheckout({ AUDIT_DB_PASSWORD: "backupctl-dev" });
    const result = await manage(["deploy", "--dir", dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(30);
    const error = result.stderr.trim().split("\n").at(-1) ?? "";
    expect(error).toStartWith(
      "error: preflight found 2 problem(s): the Docker engine does not answer",
    );
    expect(error).toContain("AUDIT_DB_PASSWORD is still the value from .env.example");
    expect((await fake.calls()).map(describeCall)).not.toContain("compose --profile migrate build");
  });
});
