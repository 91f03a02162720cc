import { describe, expect, test } from "bun:test";
import { MigrateError } from "../../src/migrate/errors.ts";
import {
  assertMigrationName,
  migrationFileName,
  parseMigrationFileName,
} from "../../src/migrate/naming.ts";

describe("migration names", () => {
  test.each(["AddTagsToBackupLog", "A", "CreateIndexOnProjectName2"])("accepts %s", (name) => {
    expect(() => assertMigrationName(name)).not.toThrow();
  });

  test.each([
    "addTags",
    "Add Tags",
    "Add-Tags",
    "../Escape",
    "Add;rm -rf",
    "Add_Tags",
    "",
    "1Add",
    `A${"b".repeat(100)}`,
    "AddTäg",
  ])("refuses %p with a usage error that explains the rule", (name) => {
    let error: unknown;
    try {
      assertMigrationName(name);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).kind).toBe("usage");
    expect((error as MigrateError).message).toContain("PascalCase");
  });

  test("file and class names follow the guide's convention", () => {
    expect(migrationFileName("AddTags", 1710820000000)).toEqual({
      timestamp: 1710820000000,
      name: "AddTags",
      className: "AddTags1710820000000",
      fileName: "1710820000000-AddTags.ts",
    });
    expect(parseMigrationFileName("1710720000000-CreateBackupLogTable.ts")?.className).toBe(
      "CreateBackupLogTable1710720000000",
    );
    expect(parseMigrationFileName("notes.md")).toBeUndefined();
    expect(parseMigrationFileName("171072-Short.ts")).toBeUndefined();
  });
});
