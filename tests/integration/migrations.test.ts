import { afterEach, describe, expect, test } from "bun:test";
import pg from "pg";
import { DataSource, type MigrationInterface, type QueryRunner } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { migrations } from "../../src/db/migrations.ts";
import { openDataSource as openWithErrors } from "../../src/migrate/connect.ts";
import { MigrateError } from "../../src/migrate/errors.ts";
import { diffSchema, generateMigration } from "../../src/migrate/generate.ts";
import { revertLast } from "../../src/migrate/revert.ts";
import { runMigrations } from "../../src/migrate/run.ts";
import { migrationStatus } from "../../src/migrate/status.ts";
import { freshDatabase, openDataSource, query } from "../support/database.ts";

const opened: DataSource[] = [];
afterEach(async () => {
  for (const ds of opened.splice(0)) if (ds.isInitialized) await ds.destroy();
});

async function open(db: ConnectionSettings, list?: unknown[]): Promise<DataSource> {
  const options = buildDataSourceOptions({ NODE_ENV: "test" }, db);
  const ds = new DataSource({ ...options, ...(list ? { migrations: list as never } : {}) });
  await ds.initialize();
  opened.push(ds);
  return ds;
}

async function columns(db: ConnectionSettings) {
  return query(
    db,
    `SELECT column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_name = 'backup_log' ORDER BY column_name`,
  );
}

describe("the project's migrations", () => {
  test("the two field migrations reproduce the schema of backup_log in the field exactly", async () => {
    const db = await freshDatabase();
    // Only the migrations applied in the field: later ones may add columns of their own.
    await runMigrations(await open(db, migrations.slice(0, 2)));
    const byName = Object.fromEntries((await columns(db)).map((c) => [c.column_name, c]));
    const expected: Record<string, [string, "YES" | "NO", string | null]> = {
      id: ["uuid", "NO", null],
      project_name: ["character varying", "NO", null],
      status: ["character varying", "NO", null],
      current_stage: ["character varying", "YES", null],
      started_at: ["timestamp with time zone", "NO", null],
      completed_at: ["timestamp with time zone", "YES", null],
      dump_size_bytes: ["bigint", "YES", null],
      encrypted: ["boolean", "NO", "false"],
      verified: ["boolean", "NO", "false"],
      backup_type: ["character varying", "YES", null],
      snapshot_id: ["character varying", "YES", null],
      snapshot_mode: ["character varying", "YES", null],
      files_new: ["integer", "YES", null],
      files_changed: ["integer", "YES", null],
      bytes_added: ["bigint", "YES", null],
      prune_snapshots_removed: ["integer", "YES", null],
      local_files_cleaned: ["integer", "YES", null],
      error_stage: ["character varying", "YES", null],
      error_message: ["text", "YES", null],
      retry_count: ["integer", "NO", "0"],
      duration_ms: ["bigint", "YES", null],
      created_at: ["timestamp with time zone", "NO", "now()"],
    };
    expect(Object.keys(byName).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [type, nullable, defaultValue]] of Object.entries(expected)) {
      expect([
        name,
        byName[name]?.data_type,
        byName[name]?.is_nullable,
        byName[name]?.column_default,
      ]).toEqual([name, type, nullable, defaultValue]);
    }
    const pk = await query(
      db,
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'backup_log'::regclass AND i.indisprimary`,
    );
    expect(pk.map((r) => r.attname)).toEqual(["id"]);
    await runMigrations(await open(db));
    const indexes = await query(
      db,
      "SELECT indexdef FROM pg_indexes WHERE tablename = 'backup_log' ORDER BY indexname",
    );
    expect(indexes.map((r) => r.indexdef)).toEqual([
      expect.stringContaining(
        '"IDX_backup_log_project_name_started_at" ON public.backup_log USING btree (project_name, started_at)',
      ),
      expect.stringContaining('"IDX_backup_log_status" ON public.backup_log USING btree (status)'),
      expect.stringContaining("USING btree (id)"),
    ]);
  });

  test("after every migration, generating again finds no changes (no spurious diff)", async () => {
    const db = await freshDatabase();
    const ds = await open(db);
    await runMigrations(ds);
    expect(await diffSchema(ds)).toEqual({ up: [], down: [] });
    const refused = generateMigration(ds, "Nothing", {
      base: ds.options as PostgresDataSourceOptions,
      entities: ds,
    });
    await expect(refused).rejects.toMatchObject({ kind: "nothingToDo" });
    await expect(refused).rejects.toThrow("No changes in database schema were found");
  });

  test("an audit database from the field (first two migrations applied) upgrades in place", async () => {
    const db = await freshDatabase();
    const field = await open(db, migrations.slice(0, 2));
    await runMigrations(field);
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at) VALUES (gen_random_uuid(), 'shop', 'success', now())",
    );
    const ds = await open(db);
    const { applied } = await runMigrations(ds);
    expect(applied.map((m) => m.name)).toEqual(migrations.slice(2).map((m) => m.name));
    expect(await query(db, "SELECT project_name FROM backup_log")).toEqual([
      { project_name: "shop" },
    ]);
    expect((await migrationStatus(ds)).every((m) => m.applied)).toBe(true);
  });

  test("every migration reverts, newest first, back to an empty database, and runs again", async () => {
    const db = await freshDatabase();
    const ds = await open(db);
    await runMigrations(ds);
    const reverted: string[] = [];
    for (let i = 0; i < migrations.length; i++) reverted.push((await revertLast(ds)).reverted);
    expect(reverted).toEqual(migrations.map((m) => m.name).reverse());
    expect(await query(db, "SELECT to_regclass('backup_log') AS t")).toEqual([{ t: null }]);
    await expect(revertLast(ds)).rejects.toMatchObject({ kind: "nothingToDo" });
    expect((await runMigrations(ds)).applied).toHaveLength(migrations.length);
  });
});

class AddGoodColumn1800000000000 implements MigrationInterface {
  name = "AddGoodColumn1800000000000";
  async up(q: QueryRunner) {
    await q.query(`ALTER TABLE "backup_log" ADD "good" int`);
  }
  async down(q: QueryRunner) {
    await q.query(`ALTER TABLE "backup_log" DROP COLUMN "good"`);
  }
}
class BreaksHalfway1800000000001 implements MigrationInterface {
  name = "BreaksHalfway1800000000001";
  async up(q: QueryRunner) {
    await q.query(`ALTER TABLE "backup_log" ADD "half" int`);
    await q.query(`ALTER TABLE "no_such_table" ADD "x" int`);
  }
  async down() {}
}

describe("failure", () => {
  test("a migration failing halfway is rolled back whole; earlier ones stay applied", async () => {
    const db = await freshDatabase();
    const ds = await open(db, [
      ...migrations,
      AddGoodColumn1800000000000,
      BreaksHalfway1800000000001,
    ]);
    const failure = runMigrations(ds);
    await expect(failure).rejects.toBeInstanceOf(MigrateError);
    await expect(failure).rejects.toMatchObject({ kind: "migrationFailed", exitCode: 4 });
    await expect(failure).rejects.toThrow(
      /BreaksHalfway1800000000001 failed and was rolled back: .*no_such_table/,
    );
    const names = (await columns(db)).map((c) => c.column_name);
    expect(names).toContain("good");
    expect(names).not.toContain("half");
    const state = await migrationStatus(ds);
    expect(state.filter((m) => !m.applied).map((m) => m.name)).toEqual([
      "BreaksHalfway1800000000001",
    ]);
  });

  test("an unreachable server and a wrong password are connect errors without the password", async () => {
    const db = await freshDatabase();
    const closed = buildDataSourceOptions({ NODE_ENV: "test" }, { ...db, port: 1 });
    await expect(openWithErrors(closed)).rejects.toMatchObject({ kind: "connect", exitCode: 3 });
    const wrong = buildDataSourceOptions(
      { NODE_ENV: "test" },
      { ...db, password: "wrong-password-123" },
    );
    const error = await openWithErrors(wrong).catch((e: MigrateError) => e);
    expect(error).toMatchObject({ kind: "connect" });
    expect((error as MigrateError).message).toContain("password authentication failed");
    expect((error as MigrateError).message).not.toContain("wrong-password-123");
  });

  test("revert with nothing applied is a clear nothing-to-do error", async () => {
    const ds = await openDataSource(await freshDatabase());
    opened.push(ds);
    await expect(revertLast(ds)).rejects.toThrow(
      "nothing to revert: no migration has been applied",
    );
  });
});

describe("lock_timeout", () => {
  test("a migration waiting for a lock fails after the lock wait instead of queueing everything behind it", async () => {
    const db = await freshDatabase();
    const ds = await open(db, migrations.slice(0, 2));
    await runMigrations(ds);
    const blocker = new pg.Client(db);
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE backup_log IN ACCESS SHARE MODE");
      const later = await open(db, [...migrations.slice(0, 2), AddGoodColumn1800000000000]);
      const failure = runMigrations(later, { lockWaitMs: 300 });
      await expect(failure).rejects.toMatchObject({ kind: "migrationFailed" });
      await expect(failure).rejects.toThrow("lock timeout");
    } finally {
      await blocker.end();
    }
  });
});
