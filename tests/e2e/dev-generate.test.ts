import { describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { query } from "../support/database.ts";
import {
  addProperty,
  allNames,
  columnType,
  editRecord,
  workspace,
} from "../support/dev-workspace.ts";

describe("migrate:generate", () => {
  test("diffs against a shadow database, so the dev database need not be up to date", async () => {
    const { cli } = await workspace();
    const check = await cli("migrate:generate", "--check");
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toMatch(
      /Diffing against the shadow database backupctl_shadow_[0-9a-f]{16}/,
    );
    const again = await cli("migrate:generate", "--check");
    expect(again.stderr).toContain("(reused)");
    expect((await cli("migrate:generate", "--check", "--against", "nowhere")).exitCode).toBe(2);
  });

  test("--against dev refuses while migrations are pending, and finds nothing on an up-to-date database", async () => {
    const { cwd, cli } = await workspace();
    const pending = await cli("migrate:generate", "AddSomething", "--against", "dev");
    expect(pending.exitCode).toBe(5);
    expect(pending.stderr).toContain("pending migration");
    await cli("migrate:run");
    const nothing = await cli("migrate:generate", "AddSomething", "--against", "dev");
    expect(nothing.exitCode).toBe(7);
    expect(nothing.stderr.trim()).toStartWith("error: No changes in database schema were found");
    expect(nothing.stderr.trim().split("\n")).toHaveLength(1);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
    expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);
  });

  test.each(["add tags", "../../etc/Passwd", "AddTags;touch x", "addTags", "Add$(id)"])(
    "refuses the name %p before touching anything",
    async (name) => {
      const { cwd, cli } = await workspace();
      for (const command of ["migrate:generate", "migrate:create"]) {
        const result = await cli(command, name);
        expect(result.exitCode).toBe(2);
        expect(result.stderr.trim().split("\n")).toHaveLength(1);
        expect(result.stderr).toContain("PascalCase");
      }
      expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);
    },
  );

  test("pattern: add a column — generate, review, run, show, revert", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await editRecord(
      cwd,
      addProperty('  @Column({ type: "jsonb", nullable: true })\n  tags: unknown;'),
    );

    const check = await cli("migrate:generate", "--check");
    expect(check.exitCode).toBe(6);
    expect(check.stdout).toContain("column backup_log.tags\n  record has:      jsonb null\n");

    const dry = await cli("migrate:generate", "AddTagsToBackupLog", "--dry-run");
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain("export class AddTagsToBackupLog");
    expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);

    const generated = await cli("migrate:generate", "AddTagsToBackupLog");
    expect(generated.exitCode).toBe(0);
    expect(generated.stderr).toContain('ADD "tags" jsonb');
    const file = generated.stdout.trim();
    // Absolute, so it opens from whatever directory the command was typed in.
    expect(file).toStartWith(join(cwd, "migrations/"));
    expect(file).toMatch(/\/migrations\/\d{13}-AddTagsToBackupLog\.ts$/);
    const source = await Bun.file(file).text();
    expect(source).toContain('DROP COLUMN "tags"');
    expect(await Bun.file(join(cwd, "src/db/migrations.ts")).text()).toContain(
      "AddTagsToBackupLog",
    );

    expect((await cli("migrate:show")).stdout).toMatch(/\[ \] AddTagsToBackupLog\d{13}/);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await columnType(db, "tags")).toBe("jsonb");
    expect((await cli("migrate:show")).stdout).toMatch(/\[X\] AddTagsToBackupLog\d{13}/);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);

    const reverted = await cli("migrate:revert");
    expect(reverted.exitCode).toBe(0);
    expect(reverted.stderr).toMatch(/reverted AddTagsToBackupLog\d{13}/);
    expect(await columnType(db, "tags")).toBeNull();
    expect((await cli("migrate:show")).stdout).toMatch(/\[ \] AddTagsToBackupLog\d{13}/);
  });

  test("pattern: add an index", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await editRecord(cwd, (s) =>
      s.replace(
        '@Index("IDX_backup_log_status", ["status"])',
        '@Index("IDX_backup_log_status", ["status"])\n@Index("IDX_backup_log_backup_type", ["backupType"])',
      ),
    );
    const generated = await cli("migrate:generate", "CreateIndexOnBackupType");
    expect(generated.exitCode).toBe(0);
    expect(generated.stderr).toContain('CREATE INDEX "IDX_backup_log_backup_type"');
    expect((await cli("migrate:run")).exitCode).toBe(0);
    const indexes = async () =>
      (await query(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'backup_log'")).map(
        (r) => r.indexname,
      );
    expect(await indexes()).toContain("IDX_backup_log_backup_type");
    expect((await cli("migrate:revert")).exitCode).toBe(0);
    expect(await indexes()).not.toContain("IDX_backup_log_backup_type");
  });
});
