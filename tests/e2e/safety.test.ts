import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { DataSource } from "typeorm";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { checksums, migrations } from "../../src/db/migrations.ts";
import { MIGRATION_LOCK_KEY } from "../../src/migrate/lock.ts";
import { runMigrations } from "../../src/migrate/run.ts";
import { buildMigrator, migrator } from "../support/binaries.ts";
import { databaseEnv, freshDatabase, migratedDatabase, query } from "../support/database.ts";
import { dev, projectCopy } from "../support/project.ts";

// Each test drives real servers and processes: seconds when the machine is idle, more under load.
setDefaultTimeout(20_000);

let binary: string;
beforeAll(async () => {
  binary = await buildMigrator();
}, 120_000);

const names = migrations.map((m) => m.name);

describe("concurrency", () => {
  test("8 migrators started at once: all exit cleanly, every migration applied exactly once", async () => {
    const db = await freshDatabase();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => migrator(binary, ["run"], databaseEnv(db))),
    );
    expect(results.map((r) => r.exitCode)).toEqual(Array(8).fill(0));
    const rows = await query(
      db,
      "SELECT name, count(*)::int AS n FROM migrations GROUP BY name ORDER BY name",
    );
    expect(rows).toEqual([...names].sort().map((name) => ({ name, n: 1 })));
    expect(await query(db, "SELECT count(*)::int AS n FROM migrations_ledger")).toEqual([
      { n: names.length },
    ]);
    // Exactly one of them did the work; the others found nothing left to do.
    expect(results.filter((r) => r.stderr.includes(`applied ${names[0]}`))).toHaveLength(1);
  });

  test("a held lock: the runner says who holds it, then gives up with exit 9", async () => {
    const db = await freshDatabase();
    const holder = new pg.Client({ ...db, application_name: "ops-hotfix-session" });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      const result = await migrator(binary, ["run", "--lock-timeout", "1"], databaseEnv(db));
      expect(result.exitCode).toBe(9);
      expect(result.stderr).toContain("waiting for the migration lock, held by ops-hotfix-session");
      expect(result.stderr).toMatch(
        /error: another migrator holds the migration lock \(ops-hotfix-session, pid \d+/,
      );
      expect(await query(db, "SELECT to_regclass('backup_log') AS t")).toEqual([{ t: null }]);
    } finally {
      await holder.end();
    }
    expect((await migrator(binary, ["run", "--lock-timeout", "5"], databaseEnv(db))).exitCode).toBe(
      0,
    );
  });
});

describe("the lock holder, as the waiting migrator describes it", () => {
  test("only this database's holder; a role without pg_read_all_stats gets pid and role, not 1970", async () => {
    const db = await freshDatabase();
    const elsewhere = await freshDatabase();
    const role = `viewer_${Math.random().toString(36).slice(2, 8)}`;
    await query(db, `CREATE ROLE ${role} LOGIN PASSWORD 'viewer-pw'`);
    const other = new pg.Client({ ...elsewhere, application_name: "other-database" });
    const holder = new pg.Client({ ...db, application_name: "ops-hotfix-session" });
    await other.connect();
    await holder.connect();
    try {
      await other.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      const asViewer = await migrator(
        binary,
        ["run", "--lock-timeout", "0"],
        databaseEnv({ ...db, user: role, password: "viewer-pw" }),
      );
      expect(asViewer.exitCode).toBe(9);
      expect(asViewer.stderr).toMatch(
        new RegExp(
          `error: another migrator holds the migration lock \\(pid \\d+ \\(role ${db.user}\\); its details are visible only to that role or with pg_read_all_stats\\)`,
        ),
      );
      expect(asViewer.stderr).not.toContain("1970");
      const asOwner = await migrator(binary, ["run", "--lock-timeout", "0"], databaseEnv(db));
      expect(asOwner.stderr).toContain("held by ops-hotfix-session");
      expect(asOwner.stderr).not.toContain("other-database");
    } finally {
      await other.end();
      await holder.end();
      await query(db, `DROP OWNED BY ${role}`).catch(() => undefined);
      await query(db, `DROP ROLE ${role}`).catch(() => undefined);
    }
  });
});

describe("data-loss gate, --json and arguments, through the binary", () => {
  test("revert --steps 9 over rows: exit 14 and one error line, nothing reverted; --allow-data-loss reverts", async () => {
    const db = await freshDatabase();
    const env = databaseEnv(db);
    expect((await migrator(binary, ["run"], env)).exitCode).toBe(0);
    await query(
      db,
      `INSERT INTO backup_log (id, project_name, status, started_at) VALUES ('00000000-0000-0000-0000-000000000001', 'p', 'success', now())`,
    );
    const refused = await migrator(binary, ["revert", "--steps", "9"], env);
    expect(refused.exitCode).toBe(14);
    expect(refused.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^error: reverting CreateBackupLogTable1710720000000 would lose data: it drops table "backup_log", which has rows \(DROP TABLE "backup_log"\).*\(nothing was reverted\)$/,
      ),
    ]);
    expect(await query(db, "SELECT count(*)::int AS n FROM migrations")).toEqual([
      { n: names.length },
    ]);
    const allowed = await migrator(binary, ["revert", "--steps", "9", "--allow-data-loss"], env);
    expect(allowed.exitCode).toBe(0);
    // Said once, as a warning: what was dropped, and that the flag allowed it.
    expect(allowed.stderr.split("\n").filter((line) => line.includes("allowed by"))).toEqual([
      'warning: reverting CreateBackupLogTable1710720000000 drops table "backup_log", which has rows (DROP TABLE "backup_log"): allowed by --allow-data-loss',
    ]);
    expect(await query(db, "SELECT to_regclass('backup_log') AS t")).toEqual([{ t: null }]);
  });

  test("run --json on a partial failure prints what was applied before it; a bad %-escape and --steps 0x2 are usage errors", async () => {
    const db = await migratedDatabase(1);
    // The third migration's index already exists: it fails after the second one is applied.
    await query(db, `CREATE INDEX "IDX_backup_log_status" ON backup_log (status)`);
    const result = await migrator(binary, ["run", "--json"], databaseEnv(db));
    expect(result.exitCode).toBe(4);
    const report = JSON.parse(result.stdout);
    expect(report.applied.map((m: { name: string }) => m.name)).toEqual([names[1]]);
    expect(report.error.kind).toBe("migrationFailed");
    expect(result.stderr).toContain(`(applied before it (and kept): ${names[1]})`);
    const badEscape = await migrator(binary, ["show"], {
      DATABASE_URL: "postgres://u:se%zzcret@127.0.0.1:1/db",
    });
    expect(badEscape.exitCode).toBe(2);
    // One line about DATABASE_URL, without the password's text (whatever parser reads the URL).
    expect(badEscape.stderr).toMatch(/^error: DATABASE_URL[^\n]*\n$/);
    expect(badEscape.stderr).not.toContain("zzcret");
    const steps = await migrator(binary, ["revert", "--steps", "0x2"], databaseEnv(db));
    expect(steps.exitCode).toBe(2);
    expect(steps.stderr).toBe('error: --steps must be a whole number of at least 1 (got "0x2")\n');
  });
});

describe("ledger and checksums", () => {
  test("the binary records the same checksum the dev toolkit computes, with when, how long and by what", async () => {
    const db = await freshDatabase();
    await migrator(binary, ["run"], databaseEnv(db));
    const ledger = await query(
      db,
      "SELECT name, checksum, applied_at, duration_ms, applied_by, tool, adopted FROM migrations_ledger",
    );
    for (const name of names) {
      const row = ledger.find((r) => r.name === name);
      expect(row?.checksum).toBe(checksums[name] as string);
      expect(row?.applied_at).toBeInstanceOf(Date);
      expect(Number(row?.duration_ms)).toBeGreaterThanOrEqual(0);
      expect(row?.tool).toBe("migrator");
      expect(row?.adopted).toBe(false);
    }
    const json = JSON.parse((await migrator(binary, ["show", "--json"], databaseEnv(db))).stdout);
    expect(json.migrations[0]).toMatchObject({
      name: names[0],
      applied: true,
      checksum: "ok",
      tool: expect.stringContaining("migrator"),
    });
    expect(json.migrations[0].appliedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(typeof json.migrations[0].durationMs).toBe("number");
  });

  test("migrations applied before the ledger (TypeORM's own runner) are adopted, not flagged", async () => {
    const db = await freshDatabase();
    const typeorm = new DataSource(buildDataSourceOptions({ NODE_ENV: "test" }, db));
    await typeorm.initialize();
    await typeorm.runMigrations({ transaction: "each" });
    await typeorm.destroy();
    const before = JSON.parse((await migrator(binary, ["show", "--json"], databaseEnv(db))).stdout);
    expect(before.migrations.map((m: { checksum: string }) => m.checksum)).toEqual(
      names.map(() => "unrecorded"),
    );
    const run = await migrator(binary, ["run"], databaseEnv(db));
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain("Nothing to run");
    const ledger = await query(
      db,
      "SELECT name, adopted, checksum FROM migrations_ledger ORDER BY name",
    );
    expect(ledger).toEqual(
      [...names].sort().map((name) => ({ name, adopted: true, checksum: checksums[name] })),
    );
  });

  test("an edited applied migration is refused by name (exit 10) until restored or accepted", async () => {
    const cwd = await projectCopy();
    const db = await freshDatabase();
    const env = { ...databaseEnv(db), BACKUPCTL_DEV_DB: "external" };
    expect((await dev(cwd, ["migrate:run"], env)).exitCode).toBe(0);
    const edited = join(cwd, "migrations", "1742467200000-AddBackupTypeToBackupLog.ts");
    const original = await Bun.file(edited).text();
    await Bun.write(edited, original.replace('type: "varchar"', 'type: "text"'));

    const refused = await dev(cwd, ["migrate:run"], env);
    expect(refused.exitCode).toBe(10);
    expect(refused.stderr).toContain(
      "applied migration AddBackupTypeToBackupLog1742467200000 changed since it was applied",
    );
    expect((await dev(cwd, ["migrate:revert"], env)).exitCode).toBe(10);
    expect((await dev(cwd, ["migrate:show"], env)).stdout).toContain(
      "SOURCE CHANGED SINCE APPLIED",
    );

    const accepted = await dev(
      cwd,
      ["migrate:run", "--accept-changed", "AddBackupTypeToBackupLog1742467200000"],
      env,
    );
    expect(accepted.exitCode).toBe(0);
    expect(accepted.stderr).toContain(
      "accepted the edited source of applied migration AddBackupTypeToBackupLog1742467200000",
    );
    expect((await dev(cwd, ["migrate:run"], env)).exitCode).toBe(0);
  });

  test("the engine refuses a changed checksum and accepts it when told", async () => {
    const db = await freshDatabase();
    const ds = new DataSource(buildDataSourceOptions({ NODE_ENV: "test" }, db));
    await ds.initialize();
    try {
      await runMigrations(ds, { checksums });
      const tampered = { ...checksums, [names[0] as string]: "0".repeat(64) };
      await expect(runMigrations(ds, { checksums: tampered })).rejects.toMatchObject({
        kind: "checksum",
        exitCode: 10,
      });
      await expect(
        runMigrations(ds, { checksums: tampered, acceptChanged: ["NoSuchMigration1"] }),
      ).rejects.toMatchObject({ kind: "usage" });
      // Accepting one while another is also edited: refused, and the accepted one is not stored.
      const both = { ...tampered, [names[1] as string]: "1".repeat(64) };
      await expect(
        runMigrations(ds, { checksums: both, acceptChanged: [names[0] as string] }),
      ).rejects.toMatchObject({ kind: "checksum" });
      expect(
        await query(db, "SELECT checksum FROM migrations_ledger WHERE name = $1", [names[0]]),
      ).toEqual([{ checksum: checksums[names[0] as string] }]);
      await runMigrations(ds, { checksums: tampered, acceptChanged: [names[0] as string] });
      expect(
        await query(db, "SELECT checksum FROM migrations_ledger WHERE name = $1", [names[0]]),
      ).toEqual([{ checksum: "0".repeat(64) }]);
    } finally {
      await ds.destroy();
    }
  });
});

describe("resolve and dry run", () => {
  test("resolve --rolled-back / --applied keep the migrations table and the ledger consistent", async () => {
    const db = await freshDatabase();
    const env = databaseEnv(db);
    await migrator(binary, ["run"], env);
    const last = names.at(-1) as string;
    const rolledBack = await migrator(binary, ["resolve", "--rolled-back", last], env);
    expect(rolledBack.exitCode).toBe(0);
    expect(
      await query(
        db,
        "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'IDX_backup_log_status'",
      ),
    ).toEqual([{ n: 1 }]);
    expect(await query(db, "SELECT name FROM migrations_ledger WHERE name = $1", [last])).toEqual(
      [],
    );
    expect((await migrator(binary, ["show", "--exit-code"], env)).exitCode).toBe(5);

    const applied = await migrator(binary, ["resolve", "--applied", last], env);
    expect(applied.exitCode).toBe(0);
    expect(await query(db, "SELECT tool FROM migrations_ledger WHERE name = $1", [last])).toEqual([
      { tool: "migrator resolve" },
    ]);
    expect((await migrator(binary, ["show", "--exit-code"], env)).exitCode).toBe(0);

    expect((await migrator(binary, ["resolve", "--applied", last], env)).exitCode).toBe(7);
    expect((await migrator(binary, ["resolve", "--applied", "Nope1"], env)).exitCode).toBe(2);
    expect((await migrator(binary, ["resolve"], env)).exitCode).toBe(2);
  });

  test("run --dry-run prints the SQL of every pending migration and leaves the database untouched", async () => {
    const db = await freshDatabase();
    const result = await migrator(binary, ["run", "--dry-run"], databaseEnv(db));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`-- ${names[0]}`);
    expect(result.stdout).toContain('CREATE TABLE "backup_log"');
    expect(result.stdout).toContain('CREATE INDEX "IDX_backup_log_status"');
    expect(
      await query(db, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"),
    ).toEqual([{ n: 0 }]);
  });
});

/** A project copy with every migration applied and a slow one pending (inside pg_sleep for 2 s). */
async function slowMigrationProject() {
  const cwd = await projectCopy();
  const db = await freshDatabase();
  const env = { ...databaseEnv(db), BACKUPCTL_DEV_DB: "external" };
  expect((await dev(cwd, ["migrate:run"], env)).exitCode).toBe(0);
  // Written straight into migrations/: migrate:run refreshes the registry itself.
  await Bun.write(
    join(cwd, "migrations", "1800000000000-SlowBackfill.ts"),
    `import type { MigrationInterface, QueryRunner } from "typeorm";

export class SlowBackfill1800000000000 implements MigrationInterface {
  name = "SlowBackfill1800000000000";

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(\`ALTER TABLE "backup_log" ADD "slow" int\`);
    await queryRunner.query(\`SELECT pg_sleep(2)\`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(\`ALTER TABLE "backup_log" DROP COLUMN "slow"\`);
  }
}
`,
  );
  const spawn = (cmd: string[]) =>
    Bun.spawn(cmd, {
      cwd,
      env: { PATH: process.env.PATH ?? "", NODE_ENV: "development", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
  /** Waits until the slow migration is inside pg_sleep. */
  const inSleep = async () => {
    for (let i = 0; i < 200; i++) {
      const busy = await query(
        db,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'",
      );
      if (busy[0]?.n) return;
      await Bun.sleep(50);
    }
    throw new Error("the slow migration never started");
  };
  const notApplied = async () => {
    expect(
      await query(
        db,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'backup_log' AND column_name = 'slow'",
      ),
    ).toEqual([]);
    expect(await query(db, "SELECT name FROM migrations WHERE name LIKE 'SlowBackfill%'")).toEqual(
      [],
    );
  };
  return { cwd, db, env, spawn, inSleep, notApplied };
}

/** The pids of a process's children, from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await Bun.file(`/proc/${pid}/task/${pid}/children`)
    .text()
    .catch(() => "");
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

describe("a killed or interrupted migrator", () => {
  test("kill -9 of `bun run dev`: its child stops and rolls back instead of committing; the next run applies it", async () => {
    const project = await slowMigrationProject();
    const proc = project.spawn([process.execPath, "run", "dev", "migrate:run"]);
    await project.inSleep();
    const children = await childrenOf(proc.pid);
    expect(children.length).toBeGreaterThan(0);
    proc.kill("SIGKILL");
    await proc.exited;
    // The child (bun scripts/dev.ts) notices it lost its parent: wait until it is gone, which
    // without the fix is after pg_sleep ends and it commits.
    for (let i = 0; i < 200 && children.some((pid) => existsSync(`/proc/${pid}`)); i++) {
      await Bun.sleep(50);
    }
    expect(children.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    await project.notApplied();
    const rerun = await dev(project.cwd, ["migrate:run", "--lock-timeout", "30"], project.env);
    expect(rerun.exitCode).toBe(0);
    expect(
      await query(
        project.db,
        "SELECT count(*)::int AS n FROM migrations_ledger WHERE name LIKE 'SlowBackfill%'",
      ),
    ).toEqual([{ n: 1 }]);
  }, 30_000);

  test("SIGINT and SIGTERM during a migration: rolled back, one error line naming it, exit 130 / 143", async () => {
    const project = await slowMigrationProject();
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      const proc = project.spawn([process.execPath, "scripts/dev.ts", "migrate:run"]);
      await project.inSleep();
      proc.kill(signal);
      const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(exitCode).toBe(code);
      const errors = stderr.split("\n").filter((line) => line.startsWith("error:"));
      expect(errors).toEqual([
        `error: stopped by ${signal}: migration SlowBackfill1800000000000 failed and was rolled back: canceling statement due to user request (nothing was applied)`,
      ]);
      expect(stderr).not.toContain("    at ");
      await project.notApplied();
    }
  }, 30_000);
});

describe("a broken migration file is the user's error (exit 2), never a bug (exit 1)", () => {
  test("a syntax error names the file and line; a misnamed class or a second class is refused before the registry is written", async () => {
    const cwd = await projectCopy();
    const env = { DATABASE_URL: "postgres://u:p@127.0.0.1:1/db", BACKUPCTL_DEV_DB: "external" };
    const file = join(cwd, "migrations", "1800000000000-Broken.ts");
    const migration = (
      className: string,
      upBody = "",
    ) => `import type { MigrationInterface, QueryRunner } from "typeorm";
export class ${className} implements MigrationInterface {
  name = "${className}";
  public async up(queryRunner: QueryRunner): Promise<void> {${upBody}}
  public async down(queryRunner: QueryRunner): Promise<void> {}
}
`;
    await Bun.write(
      file,
      migration("Broken1800000000000", "\n    await queryRunner.query(`SELECT 1`;\n  "),
    );
    for (const extra of [{}, { DEBUG: "1" }] as Record<string, string>[]) {
      const syntax = await dev(cwd, ["migrate:run"], { ...env, ...extra });
      expect(syntax.exitCode).toBe(2);
      expect(syntax.stderr).toContain(
        'error: migrations/1800000000000-Broken.ts:5:39: Expected ")" but found ";"\n',
      );
      expect(syntax.stderr).not.toContain("undefined");
    }

    const registry = join(cwd, "src", "db", "migrations.ts");
    const before = await Bun.file(registry).text();
    await Bun.write(file, migration("Misnamed1800000000000"));
    const misnamed = await dev(cwd, ["migrate:registry"], env);
    expect(misnamed.exitCode).toBe(2);
    expect(misnamed.stderr).toBe(
      "error: migrations/1800000000000-Broken.ts must export the class Broken1800000000000 (found Misnamed1800000000000): a migration class is named after its file, name then timestamp\n",
    );
    expect(await Bun.file(registry).text()).toBe(before);

    await Bun.write(
      file,
      `${migration("Broken1800000000000")}${migration("Second1800000000001").split("\n").slice(1).join("\n")}`,
    );
    const two = await dev(cwd, ["migrate:run"], env);
    expect(two.exitCode).toBe(2);
    expect(two.stderr).toBe(
      "error: migrations/1800000000000-Broken.ts defines 2 migration classes (Broken1800000000000, Second1800000000001): one per file, each in a file named after it\n",
    );
  }, 20_000);
});
