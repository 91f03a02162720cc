import { describe, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { appendFile, cp } from "node:fs/promises";
import { join } from "node:path";
import {
  describeCall,
  type FakeDockerScenario,
  fakeDocker,
  git,
  gitServer,
  manage,
  serverCheckout,
} from "../support/fake-docker.ts";

/**
 * `./manage upgrade` on a real git checkout (a clone of a bare origin, so `git pull --ff-only`
 * really runs) with the docker stand-in: order of operations, backup before the migrator, the
 * running app untouched by a failed migration, rollback after a failed health check, the dirty
 * tree refusal and a dry run that runs nothing.
 */

const FAST = ["--interval", "0.1", "--timeout", "5"];
const DB = "backupctl-audit-db";
const APP = "backupctl";
const RUNNING: FakeDockerScenario = { running: [DB, APP] };

function backups(dir: string): string[] {
  return readdirSync(join(dir, "backups")).sort();
}

describe("./manage upgrade", () => {
  test("pulls, builds, tags the running images, backs up, migrates, restarts, waits", async () => {
    const server = await gitServer();
    const newRevision = server.publish("NEWS", "version 2\n");
    const fake = await fakeDocker({
      ...RUNNING,
      health: { [APP]: [["healthy"], ["starting", "healthy"]] },
    });
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });

    expect(result.stderr).toContain("Upgraded: backupctl is healthy on the new images");
    expect(result.exitCode).toBe(0);
    expect(git(server.dir, "rev-parse", "HEAD")).toBe(newRevision);
    expect(result.stderr).toMatch(/Updated [0-9a-f]{12} → [0-9a-f]{12}/);

    expect((await fake.calls()).map(describeCall)).toEqual([
      "version --format {{.Server.Version}}",
      "compose version --short",
      "compose --profile migrate config --quiet",
      // after git pull: the new compose file is checked again
      "compose --profile migrate config --quiet",
      "image inspect --format {{.Id}} backupctl-migrator:latest",
      "compose --profile migrate build",
      `compose ps --all --format json ${APP}`,
      `inspect --format {{.Image}} cid-${APP}`,
      "image tag sha256:old-app backupctl:previous",
      "image tag sha256:old-migrator backupctl-migrator:previous",
      `compose ps --all --format json ${DB}`,
      `compose exec -T ${DB} pg_dump -U backupctl -d backupctl_audit --no-owner`,
      "compose --profile migrate run --rm --build migrator",
      `compose up -d --no-build ${APP}`,
      `compose ps --all --format json ${APP}`,
      `compose ps --all --format json ${APP}`,
    ]);
    const state = await fake.state();
    expect(state.containers[APP]?.image).toBe("sha256:new-app");
    expect(state.images["backupctl:previous"]).toBe("sha256:old-app");

    const [backup] = backups(server.dir);
    expect(backup).toMatch(/^audit-\d{8}T\d{6}Z\.sql\.gz$/);
    const path = join(server.dir, "backups", backup as string);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const sql = Bun.gunzipSync(await Bun.file(path).bytes());
    expect(new TextDecoder().decode(sql)).toContain("-- PostgreSQL database dump complete");
    expect(result.stderr).toContain(`Backed up the audit database to backups/${backup} (`);
  });

  test("`update` is the same command", async () => {
    const server = await gitServer();
    const fake = await fakeDocker(RUNNING);
    const result = await manage(["update", "--dir", server.dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("Already up to date");
  });

  test("says when the pull changed ./manage's own dependencies", async () => {
    const server = await gitServer();
    server.publish("bun.lock", "{}\n");
    const fake = await fakeDocker(RUNNING);
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain(
      "warning: package.json or bun.lock changed: run `bun install --production --frozen-lockfile --ignore-scripts` before the next ./manage command",
    );
  });

  test("a migrator failure leaves the running app untouched and says how to restore: exit 4", async () => {
    const server = await gitServer();
    const fake = await fakeDocker({
      ...RUNNING,
      migrator: { exitCode: 4, stderr: "error: migration AddTags1750000000000 failed: boom\n" },
    });
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });

    expect(result.exitCode).toBe(4);
    const calls = (await fake.calls()).map(describeCall);
    const migratorAt = calls.indexOf("compose --profile migrate run --rm --build migrator");
    const backupAt = calls.findIndex((c) => c.includes("pg_dump"));
    expect(backupAt).toBeGreaterThan(-1);
    expect(backupAt).toBeLessThan(migratorAt);
    // Nothing touched the app: no up/stop/restart/rm of it, before or after the migrator.
    expect(calls.filter((c) => /^compose (up|stop|restart|rm|down)/.test(c))).toEqual([]);
    expect(calls.at(-1)).toBe("compose --profile migrate run --rm --build migrator");
    expect((await fake.state()).containers[APP]?.image).toBe("sha256:old-app");

    const [backup] = backups(server.dir);
    const error = result.stderr.trim().split("\n").at(-1) ?? "";
    expect(error).toStartWith(
      "error: the migrator failed (exit 4): migration AddTags1750000000000 failed: boom. The running app was not touched.",
    );
    expect(error).toContain(`The database before this upgrade is in backups/${backup}`);
    const manageFile = join(import.meta.dir, "..", "..", "manage");
    expect(error).toContain(
      `to restore it: ${join(manageFile)} restore-db ${join(server.dir, "backups", backup as string)} --dir ${server.dir}`,
    );
  });

  test("a failed backup stops before the migrator: exit 34", async () => {
    const server = await gitServer();
    const fake = await fakeDocker({
      ...RUNNING,
      pgDump: {
        exitCode: 1,
        stderr: 'pg_dump: error: connection to server failed: FATAL:  role "x" does not exist\n',
      },
    });
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(34);
    expect(result.stderr).toContain(
      `error: pg_dump in ${DB} failed (exit 1): pg_dump: error: connection to server failed: FATAL:  role "x" does not exist; nothing was migrated`,
    );
    expect((await fake.calls()).some((c) => c.includes("migrator") && c.includes("run"))).toBe(
      false,
    );
    expect(backups(server.dir)).toEqual([]);
  });

  test("a new app that fails its health check is rolled back to the previous images: exit 32", async () => {
    const server = await gitServer();
    const oldRevision = git(server.dir, "rev-parse", "HEAD").slice(0, 12);
    server.publish("NEWS", "version 2\n");
    const fake = await fakeDocker({
      ...RUNNING,
      health: { [APP]: [["healthy"], ["starting", "unhealthy"], ["starting", "healthy"]] },
    });
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });

    expect(result.exitCode).toBe(32);
    const calls = (await fake.calls()).map(describeCall);
    const restart = calls.indexOf(`compose up -d --no-build ${APP}`);
    expect(calls.slice(restart)).toEqual([
      `compose up -d --no-build ${APP}`,
      `compose ps --all --format json ${APP}`,
      `compose ps --all --format json ${APP}`,
      "image inspect --format {{.Id}} backupctl:previous",
      "image tag backupctl:previous backupctl:latest",
      "image inspect --format {{.Id}} backupctl-migrator:previous",
      "image tag backupctl-migrator:previous backupctl-migrator:latest",
      `compose up -d --no-build ${APP}`,
      `compose ps --all --format json ${APP}`,
      `compose ps --all --format json ${APP}`,
    ]);
    const state = await fake.state();
    expect(state.containers[APP]?.image).toBe("sha256:old-app");
    expect(state.images["backupctl:latest"]).toBe("sha256:old-app");
    expect(state.images["backupctl-migrator:latest"]).toBe("sha256:old-migrator");
    expect(result.stderr).toContain(
      `warning: ${APP} is unhealthy: its healthcheck failed repeatedly (see ./manage logs ${APP}): rolling back to the previous images`,
    );
    expect(result.stderr).toContain(
      "error: the new version failed its health check, so the previous images run again and are healthy.",
    );
    expect(result.stderr).toContain(
      `The checkout stays at the new version; it was at ${oldRevision} before: fix forward and upgrade again, or git checkout ${oldRevision} before any ./manage deploy`,
    );
  });

  test("when the previous images are not healthy either: exit 33", async () => {
    const server = await gitServer();
    const fake = await fakeDocker({
      ...RUNNING,
      health: { [APP]: [["healthy"], ["unhealthy"]] },
    });
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(33);
    expect(result.stderr).toContain("error: the rollback failed too: backupctl is unhealthy");
  });

  test("refuses a checkout with uncommitted changes: exit 35, nothing pulled or built", async () => {
    const server = await gitServer();
    server.publish("NEWS", "version 2\n");
    const before = git(server.dir, "rev-parse", "HEAD");
    await appendFile(join(server.dir, "docker-compose.yml"), "# local edit\n");
    const fake = await fakeDocker(RUNNING);
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });

    expect(result.exitCode).toBe(35);
    expect(result.stderr.trim().split("\n").at(-1)).toBe(
      "error: the checkout has uncommitted changes (docker-compose.yml): commit or discard them, then upgrade again; nothing was changed",
    );
    expect(git(server.dir, "rev-parse", "HEAD")).toBe(before);
    expect((await fake.calls()).map(describeCall)).not.toContain("compose --profile migrate build");
    expect(backups(server.dir)).toEqual([]);
  });

  test("untracked files (config/projects.yml, backups/) do not block an upgrade", async () => {
    const server = await gitServer();
    await Bun.write(join(server.dir, "backups", "audit-20200101T000000Z.sql.gz"), "old");
    const fake = await fakeDocker(RUNNING);
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(0);
  });

  test("a pull that is not a fast-forward is refused: exit 35", async () => {
    const server = await gitServer();
    server.publish("NEWS", "upstream\n");
    await Bun.write(join(server.dir, "LOCAL"), "local\n");
    git(server.dir, "add", "LOCAL");
    git(server.dir, "commit", "--quiet", "-m", "local commit");
    const fake = await fakeDocker(RUNNING);
    const result = await manage(["upgrade", "--dir", server.dir, ...FAST], { env: fake.env });
    expect(result.exitCode).toBe(35);
    expect(result.stderr).toContain("error: git pull --ff-only failed (exit 128):");
    expect((await fake.calls()).map(describeCall)).not.toContain("compose --profile migrate build");
  });

  test("a folder inside another repository is refused, not that repository pulled: exit 35", async () => {
    const outer = await gitServer();
    outer.publish("NEWS", "version 2\n");
    const before = git(outer.dir, "rev-parse", "HEAD");
    const nested = join(outer.dir, "nested");
    await cp(await serverCheckout(), nested, { recursive: true });
    const fake = await fakeDocker(RUNNING);
    for (const dryRun of [[], ["--dry-run"]]) {
      const result = await manage(["upgrade", "--dir", nested, ...dryRun, ...FAST], {
        env: fake.env,
      });
      expect(result.exitCode).toBe(35);
      expect(result.stderr.trim().split("\n").at(-1)).toBe(
        `error: ${nested} is not the top of a git checkout but a folder inside ${outer.dir}: upgrade would pull that repository; point --dir at backupctl's own checkout. Nothing was changed`,
      );
    }
    expect(git(outer.dir, "rev-parse", "HEAD")).toBe(before);
    expect((await fake.calls()).map(describeCall)).not.toContain("compose --profile migrate build");
  });

  test("--dry-run refuses what the real run refuses: not a checkout, uncommitted changes", async () => {
    const fake = await fakeDocker(RUNNING);
    const plain = await serverCheckout();
    const notGit = await manage(["upgrade", "--dir", plain, "--dry-run", ...FAST], {
      env: fake.env,
    });
    expect(notGit.exitCode).toBe(35);
    expect(notGit.stderr.trim().split("\n").at(-1)).toStartWith(
      `error: ${plain} is not a git checkout (`,
    );

    const server = await gitServer();
    await appendFile(join(server.dir, "docker-compose.yml"), "# local edit\n");
    const dirty = await manage(["upgrade", "--dir", server.dir, "--dry-run", ...FAST], {
      env: fake.env,
    });
    expect(dirty.exitCode).toBe(35);
    expect(dirty.stderr.trim().split("\n").at(-1)).toBe(
      "error: the checkout has uncommitted changes (docker-compose.yml): commit or discard them, then upgrade again; nothing was changed",
    );
    // The plan up to the refusal is printed; the refusal ends it. Docker never ran.
    expect(dirty.stdout).toContain("git status --porcelain --untracked-files=no");
    expect(dirty.stdout).not.toContain("git pull");
    expect(await fake.calls()).toEqual([]);
  });

  test("--dry-run prints the plan, rollback included, and runs nothing", async () => {
    const server = await gitServer();
    server.publish("NEWS", "version 2\n");
    const before = git(server.dir, "rev-parse", "HEAD");
    const fake = await fakeDocker(RUNNING);
    const result = await manage(["upgrade", "--dir", server.dir, "--dry-run", ...FAST], {
      env: fake.env,
    });

    expect(result.exitCode).toBe(0);
    expect(await fake.calls()).toEqual([]);
    expect(git(server.dir, "rev-parse", "HEAD")).toBe(before);
    expect(backups(server.dir)).toEqual([]);
    const commands = result.stdout.split("\n").filter((l) => !l.startsWith("#") && l.trim());
    const compose = `docker compose -f ${server.dir}/docker-compose.yml`;
    const order = [
      "git status --porcelain --untracked-files=no",
      "git pull --ff-only",
      `${compose} --profile migrate build`,
      "docker image tag '<image id of the running backupctl container>' backupctl:previous",
      `${compose} exec -T ${DB} pg_dump -U backupctl -d backupctl_audit --no-owner > ${server.dir}/backups/.audit-`,
      `${compose} --profile migrate run --rm --build migrator`,
      `${compose} up -d --no-build ${APP}`,
      "docker image tag backupctl:previous backupctl:latest",
    ].map((prefix) => commands.findIndex((line) => line.startsWith(prefix)));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(result.stdout).toContain("# Only if backupctl does not become healthy: rolling back");
  });
});
