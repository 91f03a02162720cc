import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  Column,
  DataSource,
  Entity,
  type MigrationInterface,
  PrimaryColumn,
  type QueryRunner,
  TableColumn,
  TableIndex,
} from "typeorm";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { migrations as projectMigrations } from "../../src/db/migrations.ts";
import { revertMigrations } from "../../src/migrate/revert.ts";
import { runMigrations } from "../../src/migrate/run.ts";
import { freshDatabase, query } from "../support/database.ts";

// Each test drives real servers and processes: seconds when the machine is idle, more under load.
setDefaultTimeout(20_000);

/**
 * The guide's own templates (typeorm-migration-guide.txt, "Common Patterns"), written with
 * QueryRunner helpers, after the project's migrations: run, revert and run again in any number of
 * steps on one runner.
 */

class AddTagsColumnToBackupLog1800000000001 implements MigrationInterface {
  name = "AddTagsColumnToBackupLog1800000000001";
  async up(queryRunner: QueryRunner) {
    await queryRunner.addColumn(
      "backup_log",
      new TableColumn({ name: "tags", type: "jsonb", isNullable: true }),
    );
    await queryRunner.createIndex(
      "backup_log",
      new TableIndex({ name: "IDX_backup_log_tags", columnNames: ["tags"] }),
    );
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.dropIndex("backup_log", "IDX_backup_log_tags");
    await queryRunner.dropColumn("backup_log", "tags");
  }
}

class AddProjectStatusIndex1800000000002 implements MigrationInterface {
  name = "AddProjectStatusIndex1800000000002";
  async up(queryRunner: QueryRunner) {
    await queryRunner.createIndex(
      "backup_log",
      new TableIndex({
        name: "IDX_backup_log_project_status",
        columnNames: ["project_name", "status"],
      }),
    );
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.dropIndex("backup_log", "IDX_backup_log_project_status");
  }
}

class RenameSnapshotMode1800000000003 implements MigrationInterface {
  name = "RenameSnapshotMode1800000000003";
  async up(queryRunner: QueryRunner) {
    await queryRunner.renameColumn("backup_log", "snapshot_mode", "snapshot_kind");
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.renameColumn("backup_log", "snapshot_kind", "snapshot_mode");
  }
}

class ChangeDurationType1800000000004 implements MigrationInterface {
  name = "ChangeDurationType1800000000004";
  async up(queryRunner: QueryRunner) {
    await queryRunner.changeColumn(
      "backup_log",
      "duration_ms",
      new TableColumn({ name: "duration_ms", type: "numeric", isNullable: true }),
    );
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.changeColumn(
      "backup_log",
      "duration_ms",
      new TableColumn({ name: "duration_ms", type: "bigint", isNullable: true }),
    );
  }
}

class BackfillIsEncrypted1800000000005 implements MigrationInterface {
  name = "BackfillIsEncrypted1800000000005";
  async up(queryRunner: QueryRunner) {
    await queryRunner.addColumn(
      "backup_log",
      new TableColumn({ name: "is_encrypted", type: "boolean", default: false }),
    );
    await queryRunner.query("UPDATE backup_log SET is_encrypted = true WHERE encrypted = true");
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.dropColumn("backup_log", "is_encrypted");
  }
}

const GUIDE = [
  ...projectMigrations,
  AddTagsColumnToBackupLog1800000000001,
  AddProjectStatusIndex1800000000002,
  RenameSnapshotMode1800000000003,
  ChangeDurationType1800000000004,
  BackfillIsEncrypted1800000000005,
];

const open: DataSource[] = [];
afterAll(async () => {
  await Promise.all(open.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
});

async function dataSource(
  db: ConnectionSettings,
  migrations: (new () => MigrationInterface)[],
  entities: (new () => unknown)[] = [],
) {
  const base = buildDataSourceOptions({ NODE_ENV: "test" }, db);
  const ds = new DataSource({
    ...base,
    migrations,
    ...(entities.length > 0 ? { entities } : {}),
  });
  await ds.initialize();
  open.push(ds);
  return ds;
}

const applied = async (db: ConnectionSettings) =>
  (await query<{ name: string }>(db, "SELECT name FROM migrations ORDER BY id")).map((r) => r.name);
const columns = async (db: ConnectionSettings) =>
  (
    await query<{ c: string }>(
      db,
      `SELECT column_name || ' ' || data_type AS c FROM information_schema.columns
        WHERE table_name = 'backup_log' AND column_name IN ('tags', 'snapshot_kind', 'snapshot_mode', 'duration_ms', 'is_encrypted')
        ORDER BY column_name`,
    )
  ).map((r) => r.c);

describe("the guide's helper-style templates", () => {
  test("run all, revert all in one --steps, run, revert 3, run: every step on one runner", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, GUIDE);
    const names = GUIDE.map((m) => new m().name as string);
    const full = [
      "duration_ms numeric",
      "is_encrypted boolean",
      "snapshot_kind character varying",
      "tags jsonb",
    ];

    await runMigrations(ds);
    expect(await applied(db)).toEqual(names);
    expect(await columns(db)).toEqual(full);

    const all = await revertMigrations(ds, names.length);
    expect(all.reverted).toEqual([...names].reverse());
    expect(await query(db, "SELECT to_regclass('backup_log') AS t")).toEqual([{ t: null }]);

    await runMigrations(ds);
    expect(await revertMigrations(ds, 3)).toEqual({ reverted: names.slice(-3).reverse() });
    expect(await columns(db)).toEqual([
      "duration_ms bigint",
      "snapshot_mode character varying",
      "tags jsonb",
    ]);
    await runMigrations(ds);
    expect(await applied(db)).toEqual(names);
    expect(await columns(db)).toEqual(full);
    expect(
      await query(
        db,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'backup_log' AND indexname LIKE 'IDX_backup_log_%' ORDER BY indexname",
      ),
    ).toEqual([
      { indexname: "IDX_backup_log_project_name_started_at" },
      { indexname: "IDX_backup_log_project_status" },
      { indexname: "IDX_backup_log_status" },
      { indexname: "IDX_backup_log_tags" },
    ]);
  });
});

@Entity("measured")
class Measured {
  @PrimaryColumn("int") id!: number;
  @Column("int") width!: number;
  @Column({ type: "int", generatedType: "STORED", asExpression: "width * 2" }) doubled!: number;
}

/** What migrate:generate writes for an entity with a generated column. */
class CreateMeasured1800000000010 implements MigrationInterface {
  name = "CreateMeasured1800000000010";
  async up(queryRunner: QueryRunner) {
    await queryRunner.query(
      `CREATE TABLE "measured" ("id" integer NOT NULL, "width" integer NOT NULL, "doubled" integer GENERATED ALWAYS AS (width * 2) STORED NOT NULL, CONSTRAINT "PK_measured" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `INSERT INTO "typeorm_metadata"("database", "schema", "table", "type", "name", "value") VALUES ($1, $2, $3, $4, $5, $6)`,
      [null, "public", "measured", "GENERATED_COLUMN", "doubled", "width * 2"],
    );
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.query(
      `DELETE FROM "typeorm_metadata" WHERE "type" = $1 AND "name" = $2 AND "schema" = $3 AND "table" = $4`,
      ["GENERATED_COLUMN", "doubled", "public", "measured"],
    );
    await queryRunner.query(`DROP TABLE "measured"`);
  }
}

describe("typeorm_metadata", () => {
  test("a generated-column migration runs: the table is created as TypeORM's executor creates it", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, [CreateMeasured1800000000010], [Measured]);
    await runMigrations(ds);
    expect(await query(db, "SELECT type, name, value FROM typeorm_metadata")).toEqual([
      { type: "GENERATED_COLUMN", name: "doubled", value: "width * 2" },
    ]);
    await revertMigrations(ds, 1);
    expect(await query(db, "SELECT count(*)::int AS n FROM typeorm_metadata")).toEqual([{ n: 0 }]);
  });
});

class ConcurrentIndex1800000000020 implements MigrationInterface {
  name = "ConcurrentIndex1800000000020";
  transaction = false;
  async up(queryRunner: QueryRunner) {
    await queryRunner.query(
      `CREATE INDEX CONCURRENTLY "IDX_backup_log_started_at" ON "backup_log" ("started_at")`,
    );
  }
  async down(queryRunner: QueryRunner) {
    await queryRunner.query(`DROP INDEX CONCURRENTLY "IDX_backup_log_started_at"`);
  }
}

describe("transaction = false (CREATE INDEX CONCURRENTLY)", () => {
  test("runs, reverts, and dry-runs (shown, not wrapped in the dry run's transaction)", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, [...projectMigrations, ConcurrentIndex1800000000020]);
    const index = "SELECT indexname FROM pg_indexes WHERE indexname = 'IDX_backup_log_started_at'";
    const shown: string[] = [];
    const dry = await runMigrations(ds, {
      dryRun: true,
      onStatement: (migration, sql) => {
        if (migration === "ConcurrentIndex1800000000020") shown.push(sql);
      },
    });
    expect(dry.applied.map((m) => m.name)).toContain("ConcurrentIndex1800000000020");
    expect(shown).toEqual([
      `CREATE INDEX CONCURRENTLY "IDX_backup_log_started_at" ON "backup_log" ("started_at")`,
    ]);
    expect(await query(db, "SELECT to_regclass('backup_log') AS t")).toEqual([{ t: null }]);

    await runMigrations(ds);
    expect(await query(db, index)).toEqual([{ indexname: "IDX_backup_log_started_at" }]);
    expect(await query(db, "SELECT count(*)::int AS n FROM migrations_ledger")).toEqual([{ n: 4 }]);
    await revertMigrations(ds, 1);
    expect(await query(db, index)).toEqual([]);
    expect(await applied(db)).toEqual(projectMigrations.map((m) => new m().name as string));
    expect(await query(db, "SELECT count(*)::int AS n FROM migrations_ledger")).toEqual([{ n: 3 }]);
  });
});
