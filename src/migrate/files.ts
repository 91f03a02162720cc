import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { MigrateError } from "./errors.ts";
import { listMigrationFiles, type RegistryPaths, writeRegistry } from "./registry.ts";

/**
 * Writes a new migration file and refreshes the registry. Refuses a name that an existing
 * migration already uses: two `AddIndexes` migrations would be indistinguishable to readers.
 */
export async function addMigrationFile(
  paths: RegistryPaths,
  file: { fileName: string; className: string; source: string },
  name: string,
): Promise<string> {
  assertNameFree(paths, name);
  const path = join(paths.migrationsDir, file.fileName);
  if (existsSync(path)) throw new MigrateError("usage", `${path} already exists`);
  await Bun.write(path, file.source);
  await writeRegistry(paths);
  return path;
}

/** Files in migrations/ that do not follow the naming rule, which the registry would skip. */
export function strayMigrationFiles(migrationsDir: string): string[] {
  const listed = new Set(listMigrationFiles(migrationsDir).map((file) => file.fileName));
  return readdirSync(migrationsDir).filter((entry) => entry.endsWith(".ts") && !listed.has(entry));
}

/** Two migrations with one name would be indistinguishable to readers: refuse before any work. */
export function assertNameFree(paths: RegistryPaths, name: string): void {
  const clash = listMigrationFiles(paths.migrationsDir).find((existing) => existing.name === name);
  if (clash) {
    throw new MigrateError(
      "usage",
      `a migration named ${name} already exists (${clash.fileName}): choose another name`,
    );
  }
}
