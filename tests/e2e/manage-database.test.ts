import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { openDataSource, query } from "../support/database.ts";
import { describeCall, fakeDocker, manage, serverCheckout } from "../support/fake-docker.ts";
import { type MatchingServer, startMatchingServer } from "../support/fake-docker-postgres.ts";
import { testServerConnection } from "../support/server.ts";

/**
 * backup-db and restore-db on real databases. The docker stand-in passes `compose exec <db>
 * pg_dump|psql …` through to this machine's PostgreSQL client tools (Debian's, version 15),
 * pointed at a real server, the way the database container runs them against its own server.
 *
 * pg_dump refuses a server newer than itself, so dumps come from a PostgreSQL 15 server started
 * here (Debian's postgresql-15); restores are tested on that server and on the suite's
 * PostgreSQL 18. One test shows the version refusal itself, on the PostgreSQL 18 server.
 */

let pg15: MatchingServer;

beforeAll(async () => {
  pg15 = await startMatchingServer();
});

afterAll(async () => {
  await pg15?.stop();
});

async function createDatabase(
  admin: ConnectionSettings,
  name: string,
): Promise<ConnectionSettings> {
  const client = new pg.Client(admin);
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  return { ...admin, database: name };
}

/** An audit database as the migrator leaves it, with two runs recorded. */
async function auditDatabase(server: MatchingServer, name: string): Promise<ConnectionSettings> {
  const connection = await createDatabase(server.connection(), name);
  const ds = await openDataSource(connection);
  try {
    await ds.runMigrations({ transaction: "each" });
    await ds.query(
      `INSERT INTO backup_log (id, project_name, status, started_at) VALUES
       ('00000000-0000-4000-8000-000000000001', 'orders', 'success', now()),
       ('00000000-0000-4000-8000-000000000002', 'billing', 'failed', now())`,
    );
  } finally {
    await ds.destroy();
  }
  return connection;
}

/** A checkout whose .env names the database, and a stand-in passing pg tools through to it. */
async function setupFor(connection: ConnectionSettings) {
  const dir = await serverCheckout({
    AUDIT_DB_USER: connection.user,
    AUDIT_DB_NAME: connection.database,
    AUDIT_DB_PASSWORD: connection.password,
  });
  const fake = await fakeDocker({
    running: ["backupctl-audit-db"],
    passThrough: {
      PGHOST: connection.host,
      PGPORT: String(connection.port),
      PGPASSWORD: connection.password,
    },
  });
  return { dir, fake };
}

function backupFiles(dir: string): string[] {
  return readdirSync(join(dir, "backups")).sort();
}

async function gunzipText(path: string): Promise<string> {
  return new TextDecoder().decode(Bun.gunzipSync(await Bun.file(path).bytes()));
}

async function tables(connection: ConnectionSettings): Promise<string[]> {
  const rows = await query<{ t: string }>(
    connection,
    "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
  );
  return rows.map((r) => r.t);
}

async function projects(connection: ConnectionSettings): Promise<string[]> {
  const rows = await query<{ p: string }>(
    connection,
    "SELECT project_name AS p FROM backup_log ORDER BY 1",
  );
  return rows.map((r) => r.p);
}

describe("deploy's backup before migrating, on a real database", () => {
  const deploy = ({ dir, fake }: Awaited<ReturnType<typeof setupFor>>) =>
    manage(["deploy", "--dir", dir, "--interval", "0.1"], { env: fake.env });

  test("a first deploy (no tables yet) has nothing to back up", async () => {
    const setup = await setupFor(await createDatabase(pg15.connection(), "audit_first_deploy"));
    const result = await deploy(setup);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("The audit database is new: nothing to back up");
    expect(backupFiles(setup.dir)).toEqual([]);
  });

  test("a redeploy dumps the recorded runs before the migrator runs", async () => {
    const setup = await setupFor(await auditDatabase(pg15, "audit_redeploy"));
    const result = await deploy(setup);
    expect(result.exitCode).toBe(0);
    const [file] = backupFiles(setup.dir);
    expect(result.stderr).toContain(`(backup: backups/${file})`);
    const sql = await gunzipText(join(setup.dir, "backups", file as string));
    expect(sql).toContain("orders");
    expect(sql).toContain("-- PostgreSQL database dump complete");
  });
});

describe("backup-db", () => {
  test("dumps the audit database through the db container into backups/audit-<UTC>.sql.gz", async () => {
    const source = await auditDatabase(pg15, "audit_backup");
    const { dir, fake } = await setupFor(source);
    const result = await manage(["backup-db", "--dir", dir], { env: fake.env });

    expect(result.stderr).toContain("Backed up the audit database to backups/audit-");
    expect(result.exitCode).toBe(0);
    const [file] = backupFiles(dir);
    expect(file).toMatch(/^audit-\d{8}T\d{6}Z\.sql\.gz$/);
    const path = join(dir, "backups", file as string);
    expect(result.stdout.trim()).toBe(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const size = statSync(path).size;
    expect(result.stderr).toMatch(/\((\d+ B|\d+\.\d KiB)\)/);
    expect(size).toBeGreaterThan(100);

    const sql = await gunzipText(path);
    expect(sql).toContain("CREATE TABLE public.backup_log");
    expect(sql).toContain("orders");
    expect(sql).toContain("CreateBackupLogTable1710720000000");
    expect(sql).toContain("-- PostgreSQL database dump complete");
    // --no-owner: restorable by whichever user owns the target database.
    expect(sql).not.toContain("OWNER TO");
    expect((await fake.calls()).map(describeCall)).toEqual([
      "version --format {{.Server.Version}}",
      `compose exec -T backupctl-audit-db pg_dump -U tester -d audit_backup --no-owner`,
    ]);
    // The password is only in the stand-in's environment, never on a command line or printed.
    expect(JSON.stringify(await fake.calls())).not.toContain(source.password);
    expect(result.stderr + result.stdout).not.toContain(source.password);
  });

  test("a pg_dump that refuses the server (version mismatch) fails clearly and keeps no file", async () => {
    // The suite's PostgreSQL 18 is newer than pg_dump 15.
    const target = await createDatabase(testServerConnection(), `audit18_${process.pid}`);
    const { dir, fake } = await setupFor(target);
    const result = await manage(["backup-db", "--dir", dir], { env: fake.env });

    expect(result.exitCode).toBe(34);
    const error = result.stderr.trim().split("\n").at(-1) ?? "";
    expect(error).toStartWith(
      "error: pg_dump in backupctl-audit-db failed (exit 1): pg_dump: error:",
    );
    expect(error).toContain("server version mismatch");
    expect(error).toMatch(/server version: 18\.\d+; pg_dump version: 15\.\d+/);
    expect(backupFiles(dir)).toEqual([]);
  });
});

describe("restore-db", () => {
  test("replaces the whole schema in one transaction, after backing up what was there", async () => {
    const source = await auditDatabase(pg15, "audit_restore_src");
    const { dir: srcDir, fake: srcFake } = await setupFor(source);
    expect((await manage(["backup-db", "--dir", srcDir], { env: srcFake.env })).exitCode).toBe(0);
    const [dump] = backupFiles(srcDir);
    const dumpPath = join(srcDir, "backups", dump as string);

    // The target: the same schema plus what a half-applied migration left, and other rows.
    const target = await auditDatabase(pg15, "audit_restore_dst");
    await query(target, "CREATE TABLE left_by_failed_migration (id int)");
    await query(target, "DELETE FROM backup_log");
    await query(
      target,
      "INSERT INTO backup_log (id, project_name, status, started_at) VALUES (gen_random_uuid(), 'written-later', 'started', now())",
    );
    const { dir, fake } = await setupFor(target);
    const result = await manage(["restore-db", dumpPath, "--yes", "--dir", dir], { env: fake.env });

    expect(result.stderr).toContain("Restored the audit database from");
    expect(result.exitCode).toBe(0);
    expect(await tables(target)).not.toContain("left_by_failed_migration");
    expect(await projects(target)).toEqual(["billing", "orders"]);
    const migrations = await query<{ name: string }>(
      target,
      "SELECT name FROM migrations ORDER BY id",
    );
    expect(migrations.map((m) => m.name)).toEqual(
      (await query<{ name: string }>(source, "SELECT name FROM migrations ORDER BY id")).map(
        (m) => m.name,
      ),
    );

    // What was there before is kept in a backup of its own.
    const [before] = backupFiles(dir);
    expect(before).toMatch(/^audit-\d{8}T\d{6}Z-before-restore\.sql\.gz$/);
    const saved = await gunzipText(join(dir, "backups", before as string));
    expect(saved).toContain("left_by_failed_migration");
    expect(saved).toContain("written-later");

    const calls = (await fake.calls()).map(describeCall);
    expect(calls[1]).toContain("pg_dump");
    expect(calls[2]).toBe(
      "compose exec -T backupctl-audit-db psql -X -q -U tester -d audit_restore_dst -v ON_ERROR_STOP=1 --single-transaction -c SET client_min_messages = warning -c DROP SCHEMA public CASCADE -c CREATE SCHEMA public -c GRANT USAGE ON SCHEMA public TO PUBLIC -f -",
    );
  });

  test("restores into the suite's PostgreSQL 18 (a dump from 15, read by psql)", async () => {
    const source = await auditDatabase(pg15, "audit_to_18");
    const { dir: srcDir, fake: srcFake } = await setupFor(source);
    expect((await manage(["backup-db", "--dir", srcDir], { env: srcFake.env })).exitCode).toBe(0);
    const dumpPath = join(srcDir, "backups", backupFiles(srcDir)[0] as string);

    const target = await createDatabase(testServerConnection(), `audit18_restore_${process.pid}`);
    await query(target, "CREATE TABLE stale (id int)");
    const { dir, fake } = await setupFor(target);
    // --no-backup: pg_dump 15 cannot dump this server (see above).
    const result = await manage(["restore-db", dumpPath, "--yes", "--no-backup", "--dir", dir], {
      env: fake.env,
    });
    expect(result.exitCode).toBe(0);
    const restored = await tables(target);
    expect(restored).toContain("backup_log");
    expect(restored).toContain("migrations");
    expect(restored).not.toContain("stale");
    expect(await projects(target)).toEqual(["billing", "orders"]);
    expect(backupFiles(dir)).toEqual([]);
  });

  test("a dump that fails half-way changes nothing: exit 37", async () => {
    const source = await auditDatabase(pg15, "audit_bad_src");
    const { dir: srcDir, fake: srcFake } = await setupFor(source);
    expect((await manage(["backup-db", "--dir", srcDir], { env: srcFake.env })).exitCode).toBe(0);
    const sql = await gunzipText(join(srcDir, "backups", backupFiles(srcDir)[0] as string));
    // A complete-looking dump with a statement that fails after the tables were created.
    const broken = sql.replace(
      "-- PostgreSQL database dump complete",
      "INSERT INTO public.backup_log (id) VALUES ('not-a-uuid');\n-- PostgreSQL database dump complete",
    );
    const brokenPath = join(srcDir, "broken.sql.gz");
    await writeFile(brokenPath, Bun.gzipSync(new TextEncoder().encode(broken)));

    const target = await auditDatabase(pg15, "audit_bad_dst");
    await query(target, "CREATE TABLE keep_me (id int)");
    const { dir, fake } = await setupFor(target);
    const result = await manage(["restore-db", brokenPath, "--yes", "--no-backup", "--dir", dir], {
      env: fake.env,
    });
    expect(result.exitCode).toBe(37);
    const error = result.stderr.trim().split("\n").at(-1) ?? "";
    expect(error).toStartWith("error: psql in backupctl-audit-db failed (exit 3):");
    expect(error).toContain("invalid input syntax for type uuid");
    expect(error).toEndWith("the restore ran as one transaction, so the database is unchanged");
    expect(await tables(target)).toContain("keep_me");
    expect(await projects(target)).toEqual(["billing", "orders"]);
  });

  test("a cut-off or damaged file is refused before anything runs: exit 37", async () => {
    const { dir, fake } = await setupFor(pg15.connection("postgres"));
    const text = "--\n-- PostgreSQL database dump\n--\nCREATE TABLE x (id int);\n";
    await writeFile(join(dir, "cut.sql"), text);
    const cut = await manage(["restore-db", join(dir, "cut.sql"), "--yes", "--dir", dir], {
      env: fake.env,
    });
    expect(cut.exitCode).toBe(37);
    expect(cut.stderr).toContain(
      "is not a complete pg_dump file (the end-of-dump line is missing)",
    );

    const gz = Bun.gzipSync(
      new TextEncoder().encode(`${text}-- PostgreSQL database dump complete\n`),
    );
    await writeFile(join(dir, "damaged.sql.gz"), gz.slice(0, gz.length - 6));
    const damaged = await manage(
      ["restore-db", join(dir, "damaged.sql.gz"), "--yes", "--dir", dir],
      {
        env: fake.env,
      },
    );
    expect(damaged.exitCode).toBe(37);
    expect(damaged.stderr).toContain("is damaged");
    expect(await fake.calls()).toEqual([]);
  });

  test("asks first: without --yes and no terminal it refuses (exit 2); a missing file is exit 2", async () => {
    const { dir, fake } = await setupFor(pg15.connection("postgres"));
    const dump = join(dir, "ok.sql");
    await writeFile(dump, "SELECT 1;\n-- PostgreSQL database dump complete\n");
    const refused = await manage(["restore-db", dump, "--dir", dir], { env: fake.env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr.trim()).toEndWith(
      "Pass --yes to confirm (there is no terminal to ask on); nothing was changed.",
    );
    expect((await fake.calls()).map(describeCall)).toEqual([
      "version --format {{.Server.Version}}",
    ]);

    const missing = await manage(["restore-db", join(dir, "nope.sql.gz"), "--yes", "--dir", dir], {
      env: fake.env,
    });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim()).toBe(
      `error: no such backup file: ${join(dir, "nope.sql.gz")}; nothing was changed`,
    );
  });

  test("on a terminal it asks, and only y goes on", async () => {
    // `script` gives ./manage a terminal; the answer is typed on it.
    const dir = await serverCheckout();
    const fake = await fakeDocker({ running: ["backupctl-audit-db"] });
    const dump = join(dir, "ok.sql");
    await writeFile(dump, "SELECT 1;\n-- PostgreSQL database dump complete\n");
    const manageFile = join(import.meta.dir, "..", "..", "manage");
    const typed = async (answer: string) => {
      const command = `${manageFile} restore-db ${dump} --no-backup --dir ${dir}`;
      const proc = Bun.spawn(["script", "-qec", command, "/dev/null"], {
        env: { ...process.env, ...fake.env, NO_COLOR: "1" },
        stdin: new TextEncoder().encode(`${answer}\n`),
        stdout: "pipe",
        stderr: "pipe",
      });
      const output = await new Response(proc.stdout).text();
      return { exitCode: await proc.exited, output };
    };
    const no = await typed("n");
    expect(no.output).toContain("Continue? [y/N]");
    expect(no.output).toContain("error: cancelled: nothing was changed");
    expect(no.exitCode).toBe(2);
    expect((await fake.calls()).some((c) => c.includes("psql"))).toBe(false);

    const yes = await typed("y");
    expect(yes.exitCode).toBe(0);
    expect(yes.output).toContain("Restored the audit database from ok.sql.");
    expect((await fake.calls()).filter((c) => c.includes("psql"))).toHaveLength(1);
  });
});
