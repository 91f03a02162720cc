import { afterAll, describe, expect, test } from "bun:test";
import type { DataSource, MigrationInterface, QueryRunner } from "typeorm";
import { inspectMigrations } from "../../src/migrate/inspect.ts";
import { freshDatabase, openDataSource } from "../support/database.ts";

const opened: DataSource[] = [];
afterAll(async () => {
  for (const ds of opened) await ds.destroy();
});

/** A DataSource on a fresh database that knows only `migrations`. */
async function withMigrations(migrations: (new () => MigrationInterface)[]): Promise<DataSource> {
  const base = await openDataSource(await freshDatabase());
  await base.destroy();
  const { DataSource } = await import("typeorm");
  const ds = new DataSource({ ...base.options, migrations });
  await ds.initialize();
  opened.push(ds);
  return ds;
}

/**
 * A migration adding `count` integer columns to "wide", one statement each (ALTER TABLE's cost grows
 * with the table's width, so few columns on a wide table are the cheap way to the limit).
 */
function addColumns(timestamp: number, first: number, count: number) {
  const names = Array.from({ length: count }, (_, i) => `"c${first + i}"`);
  return class implements MigrationInterface {
    name = `AddColumns${first}${timestamp}`;
    // A reviewed loss: where the data-loss gate runs, it need not look at each dropped column.
    allowDataLoss = { down: "a test table" };
    async up(q: QueryRunner) {
      await q.query(names.map((n) => `ALTER TABLE "wide" ADD ${n} integer;`).join("\n"));
    }
    async down(q: QueryRunner) {
      await q.query(names.map((n) => `ALTER TABLE "wide" DROP ${n};`).join("\n"));
    }
  };
}

describe("migrate:verify's inspection", () => {
  test("a table filled to PostgreSQL's 1600 columns verifies: up, down, up again spend no column slots", async () => {
    class CreateWide1800000000000 implements MigrationInterface {
      name = "CreateWide1800000000000";
      async up(q: QueryRunner) {
        const columns = Array.from({ length: 1390 }, (_, i) => `"b${i}" integer`);
        await q.query(`CREATE TABLE "wide" (${columns.join(", ")})`);
      }
      async down(q: QueryRunner) {
        await q.query(`DROP TABLE "wide"`);
      }
    }
    // 1390 + 3 × 70 = 1600 columns, what a real table takes. A committed up, down, up spends two
    // slots per added column (dropped ones are never reused): it ran out at the second migration.
    const ds = await withMigrations([
      CreateWide1800000000000,
      addColumns(1800000000001, 1, 70),
      addColumns(1800000000002, 71, 70),
      addColumns(1800000000003, 141, 70),
    ]);
    const inspections = await inspectMigrations(ds);
    expect(inspections.map((i) => [i.name, i.restored, i.error])).toEqual([
      ["CreateWide1800000000000", true, undefined],
      ["AddColumns11800000000001", true, undefined],
      ["AddColumns711800000000002", true, undefined],
      ["AddColumns1411800000000003", true, undefined],
    ]);
    // Only the last one leaves no room to run up() again inside the rolled-back transaction (a
    // real database could not re-apply it after a revert either): said, not failed.
    expect(inspections.slice(0, 3).map((i) => i.note)).toEqual(Array(3).fill(undefined));
    expect(inspections[3]?.note).toContain("tables can have at most 1600 columns");
    // The scratch database holds the migrated schema, each column in one slot.
    const [wide] = await ds.query(
      `SELECT relnatts, (SELECT count(*)::int FROM pg_attribute WHERE attrelid = c.oid AND attisdropped) AS dropped
         FROM pg_class c WHERE relname = 'wide'`,
    );
    expect(wide).toEqual({ relnatts: 1600, dropped: 0 });
  });

  test("an up() that fails after down(), or a down() that undoes only part, is that migration's finding; later ones are still inspected", async () => {
    class CreateT1800000000000 implements MigrationInterface {
      name = "CreateT1800000000000";
      async up(q: QueryRunner) {
        await q.query(`CREATE FUNCTION "answer"() RETURNS integer LANGUAGE sql AS 'SELECT 42'`);
        await q.query(`CREATE TABLE "t" ("id" integer)`);
      }
      async down(q: QueryRunner) {
        // Forgets the function (not part of the schema catalog), so up() cannot run again.
        await q.query(`DROP TABLE "t"`);
      }
    }
    class AddTwo1800000000001 implements MigrationInterface {
      name = "AddTwo1800000000001";
      async up(q: QueryRunner) {
        await q.query(`ALTER TABLE "t" ADD "x" integer, ADD "y" integer`);
      }
      async down(q: QueryRunner) {
        await q.query(`ALTER TABLE "t" DROP "x"`);
      }
    }
    class AddZ1800000000002 implements MigrationInterface {
      name = "AddZ1800000000002";
      async up(q: QueryRunner) {
        await q.query(`ALTER TABLE "t" ADD "z" integer`);
      }
      async down(q: QueryRunner) {
        await q.query(`ALTER TABLE "t" DROP "z"`);
      }
    }
    const ds = await withMigrations([CreateT1800000000000, AddTwo1800000000001, AddZ1800000000002]);
    const [create, addTwo, addZ, ...rest] = await inspectMigrations(ds);
    expect(rest).toEqual([]);
    expect(create?.restored).toBe(true);
    expect(create?.error).toBe(
      'up() after down() failed: function "answer" already exists with same argument types',
    );
    expect(addTwo?.restored).toBe(false);
    expect(addTwo?.error).toBeUndefined();
    expect(addTwo?.difference).toEqual(["+ column t.y: integer null"]);
    // Inspected from the schema up() left (t with x and y), not from what the failures left.
    expect(addZ).toMatchObject({
      restored: true,
      difference: [],
      down: ['ALTER TABLE "t" DROP "z"'],
    });
    expect(addZ?.error).toBeUndefined();
    const columns = await ds.query(
      `SELECT attname FROM pg_attribute WHERE attrelid = '"t"'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    );
    expect(columns.map((c: { attname: string }) => c.attname)).toEqual(["id", "x", "y", "z"]);
  });

  test("a transaction = false migration (CREATE INDEX CONCURRENTLY) is verified outside a transaction", async () => {
    class CreateT1800000000000 implements MigrationInterface {
      name = "CreateT1800000000000";
      async up(q: QueryRunner) {
        await q.query(`CREATE TABLE "t" ("id" integer)`);
      }
      async down(q: QueryRunner) {
        await q.query(`DROP TABLE "t"`);
      }
    }
    class IndexT1800000000001 implements MigrationInterface {
      name = "IndexT1800000000001";
      transaction = false;
      async up(q: QueryRunner) {
        await q.query(`CREATE INDEX CONCURRENTLY "IDX_t_id" ON "t" ("id")`);
      }
      async down(q: QueryRunner) {
        await q.query(`DROP INDEX CONCURRENTLY "IDX_t_id"`);
      }
    }
    class AddX1800000000002 implements MigrationInterface {
      name = "AddX1800000000002";
      async up(q: QueryRunner) {
        await q.query(`ALTER TABLE "t" ADD "x" integer`);
      }
      async down(q: QueryRunner) {
        await q.query(`ALTER TABLE "t" DROP "x"`);
      }
    }
    const ds = await withMigrations([CreateT1800000000000, IndexT1800000000001, AddX1800000000002]);
    const inspections = await inspectMigrations(ds);
    expect(inspections.map((i) => [i.name, i.restored, i.error])).toEqual([
      ["CreateT1800000000000", true, undefined],
      ["IndexT1800000000001", true, undefined],
      ["AddX1800000000002", true, undefined],
    ]);
    expect(inspections[1]?.down).toEqual(['DROP INDEX CONCURRENTLY "IDX_t_id"']);
    const [index] = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 't'`);
    expect(index).toEqual({ indexname: "IDX_t_id" });
  });
});
