import { describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { query } from "../support/database.ts";
import {
  addProperty,
  allNames,
  columnType,
  editRecord,
  fillMigration,
  workspace,
} from "../support/dev-workspace.ts";

// migrate:generate over the patterns of docs/writing-migrations.md (more in dev-generate.test.ts).
describe("migrate:generate", () => {
  test("pattern: change a column type, schema-first: generated as ALTER … TYPE … USING, rows survive up and down", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at, duration_ms) VALUES (gen_random_uuid(), 'p', 'success', now(), 9007199254740993)",
    );
    await editRecord(cwd, (s) =>
      s.replace(
        '@Column({ name: "duration_ms", type: "bigint", nullable: true })',
        '@Column({ name: "duration_ms", type: "numeric", nullable: true })',
      ),
    );
    const generated = await cli("migrate:generate", "ChangeDurationToNumeric");
    expect(generated.exitCode).toBe(0);
    expect(generated.stderr).toContain(
      'ALTER TABLE "backup_log" ALTER COLUMN "duration_ms" TYPE numeric USING "duration_ms"::numeric;',
    );
    expect(generated.stderr).not.toContain("DROP COLUMN");
    expect(generated.stderr).toContain("down() casts it back to bigint, which can lose precision");
    expect(generated.stderr).toContain(
      'lint changing-column-type: ALTER TABLE "backup_log" ALTER COLUMN',
    );
    const source = await Bun.file(resolve(cwd, generated.stdout.trim())).text();
    expect(source).toContain("// squawk-ignore changing-column-type: the record changes the type");
    expect(source).toContain('TYPE bigint USING "duration_ms"::bigint');
    // generate says the way back can lose precision, and leaves the yes to whoever reverts
    expect(generated.stderr).toContain("down() casts it back to bigint");
    expect(source).not.toContain("allowDataLoss");
    // generate → review/check → run: the file passes every check before it is applied
    expect((await cli("migrate:check")).exitCode).toBe(0);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    const duration = async () =>
      (await query(db, "SELECT duration_ms::text AS d FROM backup_log"))[0]?.d;
    expect(await columnType(db, "duration_ms")).toBe("numeric");
    expect(await duration()).toBe("9007199254740993");
    // bigint → numeric kept every value; numeric → bigint may round: the gate asks first
    const refused = await cli("migrate:revert");
    expect(refused.exitCode).toBe(14);
    expect(await columnType(db, "duration_ms")).toBe("numeric");
    expect((await cli("migrate:revert", "--allow-data-loss")).exitCode).toBe(0);
    expect(await columnType(db, "duration_ms")).toBe("bigint");
    expect(await duration()).toBe("9007199254740993");
  }, 60_000);

  test("pattern: rename a column, schema-first: generated as RENAME COLUMN, rows survive up and down", async () => {
    const { cwd, db, cli } = await workspace();
    await migratedWithARowThenRenamed(cwd, db, cli);
    const generated = await cli("migrate:generate", "RenameSnapshotModeToSnapshotKind");
    expect(generated.exitCode).toBe(0);
    const source = await Bun.file(resolve(cwd, generated.stdout.trim())).text();
    expect(source).toContain('RENAME COLUMN "snapshot_mode" TO "snapshot_kind"');
    expect(source).toContain("// squawk-ignore renaming-column: the record renames the column");
    expect((await cli("migrate:lint")).exitCode).toBe(0);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_kind FROM backup_log")).toEqual([
      { snapshot_kind: "full" },
    ]);
    expect((await cli("migrate:revert")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_mode FROM backup_log")).toEqual([
      { snapshot_mode: "full" },
    ]);
  }, 60_000);

  test("a NOT NULL column without a default: refused with advice (exit 15), or backfilled with --backfill", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at) VALUES (gen_random_uuid(), 'p', 'success', now())",
    );
    await editRecord(cwd, addProperty('  @Column({ type: "varchar" })\n  host: string;'));
    const refused = await cli("migrate:generate", "AddHost");
    expect(refused.exitCode).toBe(15);
    expect(refused.stderr.trim().split("\n").at(-1)).toContain(
      "error: the record adds the NOT NULL column backup_log.host without a default to an existing table",
    );
    expect(refused.stderr).toContain("--backfill");
    expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);

    const generated = await cli("migrate:generate", "AddHost", "--backfill", "'unknown'");
    expect(generated.exitCode).toBe(0);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await query(db, "SELECT host FROM backup_log")).toEqual([{ host: "unknown" }]);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
  }, 60_000);

  test("pattern: rename a column keeps the data (hand-written with migrate:create)", async () => {
    const { cwd, db, cli } = await workspace();
    await migratedWithARowThenRenamed(cwd, db, cli);
    const check = await cli("migrate:generate", "--check");
    expect(check.exitCode).toBe(6);
    expect(check.stdout).toContain(
      "column backup_log.snapshot_kind\n  record has:      character varying null\n  migrations have: (none)",
    );

    const created = await cli("migrate:create", "RenameSnapshotModeToSnapshotKind");
    expect(created.exitCode).toBe(0);
    await fillMigration(
      resolve(cwd, created.stdout.trim()),
      'await queryRunner.renameColumn("backup_log", "snapshot_mode", "snapshot_kind");',
      'await queryRunner.renameColumn("backup_log", "snapshot_kind", "snapshot_mode");',
    );
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_kind FROM backup_log")).toEqual([
      { snapshot_kind: "full" },
    ]);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
    expect((await cli("migrate:revert")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_mode FROM backup_log")).toEqual([
      { snapshot_mode: "full" },
    ]);
  });

  test("pattern: data migration with backfill", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      `INSERT INTO backup_log (id, project_name, status, started_at, encrypted)
       VALUES (gen_random_uuid(), 'a', 'success', now(), true), (gen_random_uuid(), 'b', 'success', now(), false)`,
    );
    await editRecord(
      cwd,
      addProperty(
        '  @Column({ name: "is_encrypted", type: "boolean", default: false })\n  isEncrypted: boolean;',
      ),
    );
    const created = await cli("migrate:create", "BackfillIsEncrypted");
    await fillMigration(
      resolve(cwd, created.stdout.trim()),
      `await queryRunner.addColumn("backup_log", new TableColumn({ name: "is_encrypted", type: "boolean", default: false }));
    await queryRunner.query(\`UPDATE backup_log SET is_encrypted = true WHERE encrypted = true\`);`,
      'await queryRunner.dropColumn("backup_log", "is_encrypted");',
    );
    const path = resolve(cwd, created.stdout.trim());
    await Bun.write(
      path,
      (await Bun.file(path).text()).replace(
        'import type { MigrationInterface, QueryRunner } from "typeorm";',
        'import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";',
      ),
    );
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(
      await query(db, "SELECT project_name, is_encrypted FROM backup_log ORDER BY project_name"),
    ).toEqual([
      { project_name: "a", is_encrypted: true },
      { project_name: "b", is_encrypted: false },
    ]);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
    // Its down() drops a column holding values: the data-loss gate asks for the operator's word.
    expect((await cli("migrate:revert")).exitCode).toBe(14);
    expect(await columnType(db, "is_encrypted")).not.toBeNull();
    expect((await cli("migrate:revert", "--allow-data-loss")).exitCode).toBe(0);
    expect(await columnType(db, "is_encrypted")).toBeNull();
  });
});

/** Migrated, one backup_log row with a snapshot_mode, and the record's column renamed. */
async function migratedWithARowThenRenamed(
  cwd: string,
  db: Parameters<typeof query>[0],
  cli: (...args: string[]) => Promise<unknown>,
) {
  await cli("migrate:run");
  await query(
    db,
    "INSERT INTO backup_log (id, project_name, status, started_at, snapshot_mode) VALUES (gen_random_uuid(), 'p', 'success', now(), 'full')",
  );
  await editRecord(cwd, (s) => s.replace('name: "snapshot_mode"', 'name: "snapshot_kind"'));
}
