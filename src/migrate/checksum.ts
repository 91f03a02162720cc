import type { DataSource } from "typeorm";

/**
 * The checksum of a migration's source: SHA-256 of the file with line endings normalised, so a
 * checkout on Windows does not look edited. Computed at build time for the binary and at
 * transpile time under `bun run` (src/db/checksum.macro.ts), so both see the same value.
 */
export function sourceChecksum(source: string): string {
  return new Bun.CryptoHasher("sha256").update(source.replace(/\r\n/g, "\n")).digest("hex");
}

/** Checksums by migration name; a migration missing here has no known source (e.g. defined in a test). */
export type Checksums = Readonly<Record<string, string>>;

/** The migrations the DataSource was given, with their class name, timestamp and checksum. */
export interface SourceMigration {
  name: string;
  timestamp: number;
  checksum: string | undefined;
  instance: DataSource["migrations"][number];
}

/** A migration's timestamp: the last 13 digits of its class name, as TypeORM reads it. */
const timestampOf = (name: string) => Number(name.slice(-13));

/** What status needs of the registry's migrations, from its checksums alone: no class loaded. */
export function sourceFromChecksums(
  checksums: Checksums,
): { name: string; timestamp: number; checksum: string }[] {
  return Object.entries(checksums).map(([name, checksum]) => ({
    name,
    timestamp: timestampOf(name),
    checksum,
  }));
}

export function sourceMigrations(
  dataSource: DataSource,
  checksums: Checksums = {},
): SourceMigration[] {
  return dataSource.migrations.map((instance) => {
    const name = instance.name ?? instance.constructor.name;
    return { name, timestamp: timestampOf(name), checksum: checksums[name], instance };
  });
}
