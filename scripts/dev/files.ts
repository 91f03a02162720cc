import { defineCommand } from "citty";
import { CliError } from "../../src/cli/errors.ts";
import { out } from "../../src/cli/output.ts";
import { PROJECT_PATHS } from "../../src/db/paths.ts";
import { addMigrationFile, assertNameFree } from "../../src/migrate/files.ts";
import { emptyMigration } from "../../src/migrate/migration-source.ts";
import { assertMigrationName } from "../../src/migrate/naming.ts";
import { writeRegistry } from "../../src/migrate/registry.ts";

/**
 * The commands that only write files (migrate:create, migrate:registry): no database, and no
 * TypeORM to load, so they answer at once.
 */

export /** Optional for citty, so a missing name gets the same message from every command. */
const nameArg = {
  name: {
    type: "positional",
    required: false,
    description: "PascalCase migration name, e.g. AddTagsToBackupLog",
  },
} as const;

export function requireName(value: unknown, command: string): string {
  if (value === undefined || value === "") {
    throw new CliError(
      "usage",
      `${command} needs a migration name, e.g. ${command} AddTagsToBackupLog`,
    );
  }
  const name = String(value);
  assertMigrationName(name);
  assertNameFree(PROJECT_PATHS, name);
  return name;
}

export const migrateCreate = defineCommand({
  meta: {
    name: "migrate:create",
    description:
      "Write a migration template to fill in by hand (data migrations, backfills, SQL generate cannot express)",
  },
  args: { ...nameArg },
  run: async ({ args }) => {
    const name = requireName(args.name, "migrate:create");
    const migration = emptyMigration(name);
    const path = await addMigrationFile(PROJECT_PATHS, migration, name);
    // Absolute: `bun run` starts every script in the project root, whatever directory the
    // user typed it in, so a relative path would be wrong from a subdirectory.
    out.data(path);
    out.success("Fill in up() and down(), then run: bun run dev migrate:run");
  },
});

export const migrateRegistry = defineCommand({
  meta: {
    name: "migrate:registry",
    description: "Rewrite src/db/migrations.ts from the files in migrations/",
  },
  run: async () => {
    const changed = await writeRegistry(PROJECT_PATHS);
    out.success(changed ? "Updated src/db/migrations.ts" : "src/db/migrations.ts is up to date");
  },
});
