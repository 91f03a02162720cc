import { MigrateError } from "./errors.ts";

/**
 * The one naming rule for migrations. A name becomes part of a file name and a class name
 * (`{timestamp}-{Name}.ts`, `class {Name}{timestamp}`), so it must be a PascalCase identifier:
 * that alone keeps paths, spaces and shell characters out.
 */
export const MIGRATION_NAME_RULE = /^[A-Z][A-Za-z0-9]{0,99}$/;

/** `1710720000000-CreateBackupLogTable.ts`: 13-digit millisecond timestamp, dash, name. */
export const MIGRATION_FILE_RULE = /^(\d{13})-([A-Z][A-Za-z0-9]{0,99})\.ts$/;

export function assertMigrationName(name: string): void {
  if (MIGRATION_NAME_RULE.test(name)) return;
  throw new MigrateError(
    "usage",
    `invalid migration name ${JSON.stringify(name)}: use PascalCase letters and digits, starting with a capital letter, at most 100 characters (e.g. AddTagsToBackupLog)`,
  );
}

export interface MigrationFileName {
  timestamp: number;
  name: string;
  className: string;
  fileName: string;
}

export function migrationFileName(name: string, timestamp: number): MigrationFileName {
  assertMigrationName(name);
  if (!Number.isInteger(timestamp) || String(timestamp).length !== 13) {
    throw new MigrateError(
      "usage",
      `timestamp must be 13 digits of milliseconds (got ${timestamp})`,
    );
  }
  return { timestamp, name, className: `${name}${timestamp}`, fileName: `${timestamp}-${name}.ts` };
}

export function parseMigrationFileName(fileName: string): MigrationFileName | undefined {
  const match = MIGRATION_FILE_RULE.exec(fileName);
  if (!match) return undefined;
  const [, stamp, name] = match as unknown as [string, string, string];
  return migrationFileName(name, Number(stamp));
}
