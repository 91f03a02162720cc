import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { DEV_DEFAULTS } from "../../src/config/connection.ts";
import { migrations } from "../../src/db/migrations.ts";
import { databaseEnv, freshDatabase } from "../support/database.ts";
import { dev, projectCopy } from "../support/project.ts";
import { freePort } from "../support/server.ts";

async function devQuery(port: number, sql: string) {
  const client = new pg.Client({ ...DEV_DEFAULTS, port });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

test("embedded dev database: started on demand, status, logs, reset, down", async () => {
  const cwd = await projectCopy();
  const port = freePort();
  // Pinned: on a machine with a Docker engine, auto would pick the container instead.
  const env = { AUDIT_DB_PORT: String(port), BACKUPCTL_DEV_DB: "embedded" };
  const status = async () => JSON.parse((await dev(cwd, ["status", "--json"], env)).stdout);
  try {
    const show = await dev(cwd, ["migrate:show"], env);
    expect(show.exitCode).toBe(0);
    expect(show.stderr).toContain(`Starting the embedded PostgreSQL on 127.0.0.1:${port}`);
    expect(await status()).toMatchObject({
      engine: "embedded",
      why: "BACKUPCTL_DEV_DB",
      running: true,
      reachable: true,
      applied: 0,
    });

    const again = await dev(cwd, ["up"], env);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).not.toContain("Starting");

    // Another password than the cluster's: the first fix offered keeps the data.
    const wrong = await dev(cwd, ["migrate:show"], { ...env, AUDIT_DB_PASSWORD: "changed-pw" });
    expect(wrong.exitCode).toBe(3);
    const hint = wrong.stderr.indexOf("set AUDIT_DB_USER/AUDIT_DB_PASSWORD back");
    expect(hint).toBeGreaterThan(0);
    expect(wrong.stderr.indexOf("reset --yes")).toBeGreaterThan(hint);
    expect(wrong.stderr).not.toContain("changed-pw");

    const logs = await dev(cwd, ["logs", "-n", "50"], env);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout).toContain("database system is ready to accept connections");

    expect((await dev(cwd, ["migrate:run"], env)).exitCode).toBe(0);
    await devQuery(
      port,
      "INSERT INTO backup_log (id, project_name, status, started_at) VALUES (gen_random_uuid(), 'p', 'started', now())",
    );

    const refused = await dev(cwd, ["reset"], env);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain("--yes");
    expect(await devQuery(port, "SELECT count(*)::int AS n FROM backup_log")).toEqual([{ n: 1 }]);

    const reset = await dev(cwd, ["reset", "--yes"], env);
    expect(reset.exitCode).toBe(0);
    expect(await devQuery(port, "SELECT count(*)::int AS n FROM backup_log")).toEqual([{ n: 0 }]);
    expect(await status()).toMatchObject({ applied: migrations.length, pending: 0 });

    const down = await dev(cwd, ["down"], env);
    expect(down.exitCode).toBe(0);
    expect(await status()).toMatchObject({ engine: "embedded", running: false });
    expect((await dev(cwd, ["migrate:show"], env)).stderr).toContain(
      "Starting the embedded PostgreSQL",
    );
  } finally {
    await dev(cwd, ["down"], env);
    await rm((await status()).data, { recursive: true, force: true });
  }
});

test("psql: arguments pass through, its exit code comes back, --db is the toolkit's", async () => {
  const cwd = await projectCopy();
  const db = await freshDatabase();
  const env = databaseEnv(db);
  const ok = await dev(cwd, ["psql", "--db", "external", "-At", "-c", "select 40 + 2"], env);
  expect(ok.exitCode).toBe(0);
  expect(ok.stdout.trim()).toBe("42");
  const failed = await dev(cwd, ["psql", "--db=external", "-c", "select 1/0"], env);
  expect(failed.exitCode).toBe(1); // psql's own code for a failed -c statement
  expect(failed.stderr).toContain("division by zero");
  const help = await dev(cwd, ["psql", "--db", "external", "--", "--version"], env);
  expect(help.stdout).toMatch(/^psql \(PostgreSQL\)/);
});

test("status exits 3 when the database it should reach does not answer", async () => {
  const cwd = await projectCopy();
  const db = await freshDatabase();
  const result = await dev(
    cwd,
    ["status", "--json", "--db", "external"],
    databaseEnv({ ...db, port: 1 }),
  );
  expect(result.exitCode).toBe(3);
  expect(JSON.parse(result.stdout)).toMatchObject({ engine: "external", reachable: false });
});

test("commands that manage the server refuse an external database", async () => {
  const cwd = await projectCopy();
  for (const command of ["up", "down", "reset", "logs"]) {
    const result = await dev(cwd, [command, "--db", "external"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("manage your server yourself");
  }
});

test("--db docker without a Docker engine fails with the dev-server exit code", async () => {
  const cwd = await projectCopy();
  const result = await dev(cwd, ["up", "--db", "docker"]);
  expect(result.exitCode).toBe(8);
  expect(result.stderr).toContain("docker compose up failed");
});

test("a port already in use: one line with the fix, exit 8, and .data/ left untouched", async () => {
  const cwd = await projectCopy();
  const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const result = await dev(cwd, ["up"], {
      AUDIT_DB_PORT: String(busy.port),
      BACKUPCTL_DEV_DB: "embedded",
    });
    expect(result.exitCode).toBe(8);
    const fix =
      /^error: port (\d+) on 127\.0\.0\.1 is taken by another program: set AUDIT_DB_PORT=(\d+) for the embedded server, or use that server with --db external\n$/.exec(
        result.stderr,
      );
    expect(fix?.[1]).toBe(String(busy.port));
    // The suggested port is one nothing listens on.
    Bun.listen({ hostname: "127.0.0.1", port: Number(fix?.[2]), socket: { data() {} } }).stop(true);
    expect(existsSync(join(cwd, ".data"))).toBe(false);
  } finally {
    busy.stop(true);
  }
});

test("DATABASE_URL alone means that server: no embedded cluster, status says why", async () => {
  const cwd = await projectCopy();
  const db = await freshDatabase();
  const env = databaseEnv(db);
  const run = await dev(cwd, ["migrate:run"], env);
  expect(run.exitCode).toBe(0);
  expect(run.stderr).not.toContain("embedded");
  expect(existsSync(join(cwd, ".data"))).toBe(false);
  const status = JSON.parse((await dev(cwd, ["status", "--json"], env)).stdout);
  expect(status).toMatchObject({
    engine: "external",
    why: "DATABASE_URL is set",
    reachable: true,
    applied: migrations.length,
  });
  // Nothing answers there: the hint says why nothing was started, not "bun run dev up".
  const down = await dev(cwd, ["migrate:show"], databaseEnv({ ...db, port: 1 }));
  expect(down.exitCode).toBe(3);
  expect(down.stderr).toContain(
    "DATABASE_URL is set, so bun run dev starts no server: start yours, or unset it (or pass --db embedded) for the embedded one",
  );
  // AUDIT_DB_HOST names a server too; --db and BACKUPCTL_DEV_DB still decide over both.
  const byHost = { AUDIT_DB_HOST: "127.0.0.1", AUDIT_DB_PORT: String(db.port) };
  const hostStatus = JSON.parse((await dev(cwd, ["status", "--json"], byHost)).stdout);
  expect(hostStatus).toMatchObject({ engine: "external", why: "AUDIT_DB_HOST is set" });
  // Nothing named and no docker command at all: auto picks the embedded server.
  const bunOnly = await mkdtemp(join(tmpdir(), "path-"));
  await symlink(process.execPath, join(bunOnly, "bun"));
  const auto = await dev(cwd, ["status", "--json"], { PATH: bunOnly });
  expect(JSON.parse(auto.stdout)).toMatchObject({
    engine: "embedded",
    why: "no Docker engine answers",
  });
  const forced = await dev(cwd, ["status", "--json"], { ...env, BACKUPCTL_DEV_DB: "embedded" });
  expect(JSON.parse(forced.stdout)).toMatchObject({
    engine: "embedded",
    why: "BACKUPCTL_DEV_DB",
    running: false,
  });
});
