import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import pg from "pg";
import { DataSource, type MigrationInterface, type QueryRunner } from "typeorm";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { migrations as projectMigrations } from "../../src/db/migrations.ts";
import { dataLossOf } from "../../src/migrate/data-loss.ts";
import { MigrateError } from "../../src/migrate/errors.ts";
import { inspectMigrations } from "../../src/migrate/inspect.ts";
import { revertMigrations } from "../../src/migrate/revert.ts";
import { runMigrations } from "../../src/migrate/run.ts";
import { freshDatabase, migratedDatabase, query } from "../support/database.ts";

// Each test drives real servers and processes: seconds when the machine is idle, more under load.
setDefaultTimeout(20_000);

const open: DataSource[] = [];
afterAll(async () => {
  await Promise.all(open.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
});

async function dataSource(db: ConnectionSettings, migrations: (new () => MigrationInterface)[]) {
  const ds = new DataSource({ ...buildDataSourceOptions({ NODE_ENV: "test" }, db), migrations });
  await ds.initialize();
  open.push(ds);
  return ds;
}

const ROW = `INSERT INTO backup_log (id, project_name, status, started_at, backup_type, error_message)
             VALUES ('00000000-0000-0000-0000-000000000001', 'p', 'failed', now(), 'dump', 'disk full')`;

const names = projectMigrations.map((m) => new m().name as string);

describe("the statements that lose data, asked of the database", () => {
  let db: ConnectionSettings;
  let client: pg.Client;
  const loss = (sql: string) =>
    dataLossOf(sql, { query: async (s, p) => (await client.query(s, p)).rows });
  beforeAll(async () => {
    db = await freshDatabase();
    client = new pg.Client(db);
    await client.connect();
    await client.query(`CREATE TYPE mood AS ENUM ('ok', 'sad');
      CREATE TYPE unused AS ENUM ('x');
      CREATE SCHEMA full_schema; CREATE TABLE full_schema.t (id int);
      CREATE SCHEMA empty_schema;
      CREATE TABLE "Filled" (id int, note varchar(50), feeling mood, empty_col text, n bigint,
        price numeric(10,2), ratio real);
      INSERT INTO "Filled" VALUES (1, 'hello', 'ok', NULL, 5, 12.5, 0.5);
      CREATE TABLE vacant (id int, note text)`);
  });
  afterAll(() => client.end());

  test("destructive where there is data", async () => {
    expect(await loss(`DROP TABLE "Filled"`)).toBe(`drops table "Filled", which has rows`);
    expect(await loss(`DROP TABLE IF EXISTS vacant, "Filled" CASCADE`)).toBe(
      `drops table "Filled", which has rows`,
    );
    expect(await loss(`TRUNCATE "Filled"`)).toBe(`empties table "Filled", which has rows`);
    expect(await loss(`DELETE FROM "Filled"`)).toBe(`deletes every row of "Filled"`);
    expect(await loss(`UPDATE "Filled" SET n = 0`)).toBe(`overwrites every row of "Filled"`);
    expect(await loss(`ALTER TABLE "Filled" DROP COLUMN "note"`)).toBe(
      `drops column "note" of "Filled", which holds values`,
    );
    expect(await loss(`ALTER TABLE "Filled" ADD "x" int, DROP n`)).toBe(
      `drops column n of "Filled", which holds values`,
    );
    expect(await loss(`ALTER TABLE "Filled" ALTER COLUMN "note" TYPE varchar(10)`)).toBe(
      `changes the type of "Filled"."note" from character varying(50) to varchar(10), which rewrites or narrows its values`,
    );
    // Narrowing numbers: fewer digits, fewer decimals, an integer from a fraction, a float.
    for (const retype of [
      "n TYPE integer USING n::int",
      "n TYPE smallint",
      "n TYPE numeric(10,0)",
      "price TYPE integer",
      "price TYPE numeric(10,1)",
      "price TYPE numeric(9,2)",
      "n TYPE real",
      "ratio TYPE numeric(3,2)",
    ]) {
      expect([retype, await loss(`ALTER TABLE "Filled" ALTER COLUMN ${retype}`)]).toEqual([
        retype,
        expect.stringContaining("changes the type of") as unknown as string,
      ]);
    }
    expect(await loss(`DROP SCHEMA full_schema CASCADE`)).toBe(
      "drops schema full_schema, which holds tables",
    );
    expect(await loss(`DROP TYPE mood CASCADE`)).toBe("drops type mood, which a column uses");
    // Ways around the patterns an adversary found: each still refused.
    for (const [sql, said] of [
      [
        `ALTER TABLE "Filled" RENAME COLUMN "note" TO "old_note"; ALTER TABLE "Filled" DROP COLUMN "old_note"`,
        `drops column "note"`,
      ],
      [`ALTER TABLE "Filled" RENAME TO gone; DROP TABLE gone`, `drops table "Filled"`],
      [
        `ALTER TABLE "Filled" ALTER COLUMN "note" TYPE text USING NULL`,
        "computing new values (USING NULL)",
      ],
      [`UPDATE "Filled" SET n = (SELECT 1 WHERE false)`, `overwrites every row of "Filled"`],
      [`UPDATE "Filled" SET n = 0 WHERE true`, `overwrites every row of "Filled"`],
      [
        `WITH d AS (DELETE FROM "Filled" RETURNING 1) SELECT count(*) FROM d`,
        `deletes rows of "Filled"`,
      ],
      [
        `MERGE INTO "Filled" f USING vacant v ON f.id = v.id WHEN MATCHED THEN DELETE`,
        `deletes rows of "Filled"`,
      ],
      [`/* note /* nested */ */ DELETE FROM "Filled"`, `deletes every row of "Filled"`],
      [`DELETE FROM"Filled"`, `deletes every row of "Filled"`],
      [`ALTER TABLE"Filled"DROP COLUMN"note"`, `drops column "note"`],
      [`SELECT E'\\''; DELETE FROM "Filled"; SELECT ''`, `deletes every row of "Filled"`],
      [`SELECT $a1$'$a1$; DELETE FROM "Filled"; SELECT $a1$'$a1$`, `deletes every row of "Filled"`],
      [`SELECT '--'; DELETE FROM "Filled"`, `deletes every row of "Filled"`],
    ] as const) {
      expect([sql, await loss(sql)]).toEqual([
        sql,
        expect.stringContaining(said) as unknown as string,
      ]);
    }
    // More ways around, from the second adversary review.
    await client.query(`CREATE TABLE parent (id int PRIMARY KEY);
      CREATE TABLE kid (parent_id int REFERENCES parent (id), note text);
      INSERT INTO kid VALUES (NULL, 'kept');
      CREATE DOMAIN short_text AS varchar(10); CREATE COLLATION mycoll FROM "C";
      CREATE EXTENSION citext;
      CREATE TABLE typed (note short_text, sorted text COLLATE mycoll, folded citext);
      INSERT INTO typed VALUES ('x', 'y', 'z')`);
    for (const [sql, said] of [
      [`TRUNCATE parent CASCADE`, "empties table kid, which has rows"],
      [`ALTER TABLE "Filled"* DROP COLUMN "note"`, `drops column "note"`],
      [`DELETE FROM "Filled" *`, `deletes every row of "Filled"`],
      [`DROP DOMAIN short_text CASCADE`, "drops type short_text, which a column uses"],
      [`DROP COLLATION mycoll CASCADE`, "drops collation mycoll with CASCADE"],
      [`DROP EXTENSION citext CASCADE`, "drops extension citext with CASCADE"],
      [`DELETE FROM "Filled" WHERE 't'`, `deletes every row of "Filled"`],
      [`DELETE FROM "Filled" WHERE true::boolean`, `deletes every row of "Filled"`],
    ] as const) {
      expect([sql, await loss(sql)]).toEqual([
        sql,
        expect.stringContaining(said) as unknown as string,
      ]);
    }
    expect(await loss(`TRUNCATE parent`)).toBeUndefined(); // fails on its own: kid references it
    await client.query(`CREATE TABLE "semi;colon" (id int); INSERT INTO "semi;colon" VALUES (1)`);
    for (const [sql, said] of [
      [`DROP COLLATION public.mycoll CASCADE`, "drops collation public.mycoll"],
      [`DROP COLLATION "public"."mycoll" CASCADE`, "drops collation"],
      [`DROP TABLE "semi;colon"`, `drops table "semi;colon"`],
    ] as const) {
      expect([sql, await loss(sql)]).toEqual([
        sql,
        expect.stringContaining(said) as unknown as string,
      ]);
    }
    // Foreign keys in a cycle: followed once each, and empty tables lose nothing.
    await client.query(`CREATE TABLE ring_a (id int PRIMARY KEY, b_id int);
      CREATE TABLE ring_b (id int PRIMARY KEY, a_id int REFERENCES ring_a (id));
      ALTER TABLE ring_a ADD FOREIGN KEY (b_id) REFERENCES ring_b (id)`);
    expect(await loss(`TRUNCATE ring_a CASCADE`)).toBeUndefined();
    await client.query(`INSERT INTO ring_b VALUES (1, NULL)`);
    expect(await loss(`TRUNCATE ring_a CASCADE`)).toBe("empties table ring_b, which has rows");
    // Several statements in one call: each is looked at.
    expect(await loss(`SELECT 1; DROP TABLE "Filled"`)).toBe(
      `drops table "Filled", which has rows`,
    );
  });

  test("not destructive: empty tables and columns, WHERE clauses, widening, comments, literals", async () => {
    for (const sql of [
      "DROP TABLE vacant",
      "TRUNCATE vacant",
      "DELETE FROM vacant",
      `DELETE FROM "Filled" WHERE id = 2`,
      `UPDATE "Filled" SET n = 0 WHERE id = 2`,
      `ALTER TABLE "Filled" DROP COLUMN empty_col`,
      `ALTER TABLE "Filled" DROP CONSTRAINT "PK_x"`,
      `ALTER TABLE "Filled" ALTER COLUMN n DROP NOT NULL`,
      `ALTER TABLE "Filled" ALTER COLUMN "note" TYPE varchar(80)`,
      `ALTER TABLE "Filled" ALTER COLUMN "note" TYPE text`,
      // Widening numbers keeps every value (the guide's bigint → numeric, int → bigint …).
      `ALTER TABLE "Filled" ALTER COLUMN n TYPE numeric USING n::numeric`,
      `ALTER TABLE "Filled" ALTER COLUMN n TYPE NUMERIC(20, 0)`,
      `ALTER TABLE "Filled" ALTER COLUMN id TYPE bigint`,
      `ALTER TABLE "Filled" ALTER COLUMN id SET DATA TYPE int8`,
      `ALTER TABLE "Filled" ALTER COLUMN price TYPE numeric(12,3)`,
      `ALTER TABLE "Filled" ALTER COLUMN price TYPE decimal`,
      `ALTER TABLE "Filled" ALTER COLUMN ratio TYPE double precision`,
      `ALTER TABLE "Filled" ALTER COLUMN feeling TYPE text`,
      `ALTER TABLE "Filled" ALTER COLUMN n TYPE numeric USING "n"::numeric`,
      `ALTER TABLE "Filled" ALTER COLUMN n TYPE numeric USING CAST(n AS numeric)`,
      `ALTER TABLE "Filled" ALTER COLUMN "note" TYPE character varying(60) USING "note"::character varying(60)`,
      `UPDATE "Filled" SET n = (SELECT max(id) FROM vacant) WHERE id = 2`,
      `WITH d AS (DELETE FROM vacant RETURNING 1) SELECT count(*) FROM d`,
      `SELECT 'it''s DELETE FROM "Filled"'`,
      `SELECT $$ DROP TABLE "Filled" $$`,
      `-- a comment with a quote ' and DELETE FROM "Filled"\nSELECT 1`,
      "DROP TABLE no_such_table",
      "DROP SCHEMA empty_schema",
      "DROP TYPE unused",
      `-- DROP TABLE "Filled"\nSELECT 1`,
      `INSERT INTO vacant VALUES (1, 'DROP TABLE "Filled"; TRUNCATE "Filled"')`,
      `CREATE INDEX "IDX_x" ON "Filled" (n)`,
    ]) {
      expect([sql, await loss(sql)]).toEqual([sql, undefined]);
    }
  });
});

class DropErrorMessage1800000000001 implements MigrationInterface {
  name = "DropErrorMessage1800000000001";
  async up(q: QueryRunner) {
    await q.query(`ALTER TABLE "backup_log" ADD "error_text" text`);
    await q.query(`ALTER TABLE "backup_log" DROP COLUMN "error_message"`);
  }
  async down(q: QueryRunner) {
    await q.query(`ALTER TABLE "backup_log" ADD "error_message" text`);
    await q.query(`ALTER TABLE "backup_log" DROP COLUMN "error_text"`);
  }
}

class ReviewedDrop1800000000001 extends DropErrorMessage1800000000001 {
  allowDataLoss = { up: "error_message moved to the log store; nothing reads it since 2.3" };
}

describe("the gate in front of data loss", () => {
  test("run: an unreviewed migration that would drop a column with values is refused (exit 14) and rolled back", async () => {
    const db = await migratedDatabase();
    await query(db, ROW);
    const ds = await dataSource(db, [...projectMigrations, DropErrorMessage1800000000001]);
    const failure = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(failure).toBeInstanceOf(MigrateError);
    expect(failure).toMatchObject({ kind: "dataLoss", exitCode: 14 });
    expect(failure.message).toBe(
      `DropErrorMessage1800000000001 would lose data: it drops column "error_message" of "backup_log", which holds values (ALTER TABLE "backup_log" DROP COLUMN "error_message"); it was rolled back. If that is intended, give the reason in the migration (allowDataLoss = { up: "…" }) or pass --allow-data-loss (nothing was applied)`,
    );
    expect(await query(db, "SELECT error_message FROM backup_log")).toEqual([
      { error_message: "disk full" },
    ]);
    expect(
      await query(
        db,
        "SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'error_text'",
      ),
    ).toEqual([{ n: 0 }]);
    // Let through by --allow-data-loss, and said: what was lost, on whose word.
    const warnings: string[] = [];
    const logger = { info() {}, warn: (line: string) => warnings.push(line) };
    const allowed = await runMigrations(ds, { allowDataLoss: true, logger });
    expect(allowed.applied.map((m) => m.name)).toEqual(["DropErrorMessage1800000000001"]);
    expect(warnings).toEqual([
      `DropErrorMessage1800000000001 drops column "error_message" of "backup_log", which holds values (ALTER TABLE "backup_log" DROP COLUMN "error_message"): allowed by --allow-data-loss`,
    ]);
  });

  test("run: a migration that gives its reason runs", async () => {
    const db = await migratedDatabase();
    await query(db, ROW);
    const ds = await dataSource(db, [...projectMigrations, ReviewedDrop1800000000001]);
    const warnings: string[] = [];
    const logger = { info() {}, warn: (line: string) => warnings.push(line) };
    expect((await runMigrations(ds, { logger })).applied.map((m) => m.name)).toEqual([
      "DropErrorMessage1800000000001",
    ]);
    expect(warnings).toEqual([
      `DropErrorMessage1800000000001 drops column "error_message" of "backup_log", which holds values (ALTER TABLE "backup_log" DROP COLUMN "error_message"): allowed by its reason: error_message moved to the log store; nothing reads it since 2.3`,
    ]);
    // The reason covers up() only: reverting would drop error_text, which holds nothing: allowed.
    expect((await revertMigrations(ds, 1)).reverted).toEqual(["DropErrorMessage1800000000001"]);
  });

  test("revert --steps 99 with rows: refused before anything is reverted; --allow-data-loss reverts", async () => {
    const db = await migratedDatabase();
    await query(db, ROW);
    const ds = await dataSource(db, projectMigrations);
    const failure = (await revertMigrations(ds, 99).catch((e: unknown) => e)) as MigrateError;
    expect(failure).toMatchObject({ kind: "dataLoss", exitCode: 14 });
    expect(failure.message).toStartWith(
      `reverting AddBackupTypeToBackupLog1742467200000 would lose data: it drops column "backup_type" of "backup_log", which holds values`,
    );
    expect(failure.message).toEndWith("(nothing was reverted)");
    // Nothing reverted: not even the index migration the rehearsal passed.
    expect(await query<{ name: string }>(db, "SELECT name FROM migrations ORDER BY id")).toEqual(
      names.map((name) => ({ name })),
    );
    expect(
      await query(
        db,
        "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname LIKE 'IDX_backup_log_%'",
      ),
    ).toEqual([{ n: 2 }]);
    // The table it created, with rows, counts too (backup_type empty, so the drop of the table is next).
    await query(db, "UPDATE backup_log SET backup_type = NULL");
    const table = (await revertMigrations(ds, 99).catch((e: unknown) => e)) as MigrateError;
    expect(table.message).toStartWith(
      `reverting CreateBackupLogTable1710720000000 would lose data: it drops table "backup_log", which has rows`,
    );
    expect((await revertMigrations(ds, 99, { allowDataLoss: true })).reverted).toEqual(
      [...names].reverse(),
    );
    expect(await query(db, "SELECT to_regclass('backup_log') AS t")).toEqual([{ t: null }]);
  });

  test("verify's scratch database is not gated: a seed migration whose down() empties its table inspects clean", async () => {
    class Seed1800000000002 implements MigrationInterface {
      name = "Seed1800000000002";
      async up(q: QueryRunner) {
        await q.query(
          `INSERT INTO backup_log (id, project_name, status, started_at) VALUES (gen_random_uuid(), 'seed', 'success', now())`,
        );
      }
      async down(q: QueryRunner) {
        await q.query("DELETE FROM backup_log");
      }
    }
    const db = await freshDatabase();
    const ds = await dataSource(db, [...projectMigrations, Seed1800000000002]);
    const inspections = await inspectMigrations(ds);
    expect(inspections.map((i) => [i.name, i.error])).toEqual(
      [...names, "Seed1800000000002"].map((name) => [name, undefined]),
    );
    // The same down() on a real run is gated.
    await runMigrations(ds, { allowDataLoss: true });
    await expect(revertMigrations(ds, 1)).rejects.toMatchObject({ kind: "dataLoss" });
  });

  test("the project's migrations pass the gate where nothing is lost: run and revert on an empty table", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, projectMigrations);
    expect((await runMigrations(ds)).applied).toHaveLength(names.length);
    expect((await revertMigrations(ds, 99)).reverted).toEqual([...names].reverse());
  });
});
