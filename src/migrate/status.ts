import type { DataSource } from "typeorm";
import { type Checksums, sourceMigrations } from "./checksum.ts";
import { readLedger } from "./ledger.ts";

export type ChecksumState =
  /** The source is the one that was applied. */
  | "ok"
  /** The source changed after it was applied: run and revert refuse until it is restored or accepted. */
  | "changed"
  /** Applied, but not yet in the ledger (applied before it existed); adopted on the next run. */
  | "unrecorded"
  /** No checksum to compare: pending, or the source is not known. */
  | "none";

export interface MigrationState {
  /** Class name as TypeORM records it, e.g. `CreateBackupLogTable1710720000000`. */
  name: string;
  timestamp: number;
  applied: boolean;
  /** Applied in the database but no longer in the source (deleted or renamed file). */
  missingFromSource: boolean;
  appliedAt: string | null;
  durationMs: number | null;
  appliedBy: string | null;
  tool: string | null;
  /** Applied before the ledger existed: appliedBy/tool name who adopted it, not who applied it. */
  adopted: boolean;
  checksum: ChecksumState;
}

/** Every migration known to the source or the database, oldest first, with whether it ran. */
export async function migrationStatus(
  dataSource: DataSource,
  checksums: Checksums = {},
): Promise<MigrationState[]> {
  const source = sourceMigrations(dataSource, checksums);
  const applied = await appliedMigrations(dataSource);
  const ledger = await readLedger(dataSource);
  const appliedNames = new Set(applied.map((m) => m.name));
  const state = (
    name: string,
    timestamp: number,
    missingFromSource: boolean,
    current?: string,
  ): MigrationState => {
    const entry = ledger.get(name);
    const isApplied = appliedNames.has(name);
    let checksum: ChecksumState = "none";
    if (isApplied && !entry) checksum = "unrecorded";
    else if (isApplied && entry?.checksum && current)
      checksum = entry.checksum === current ? "ok" : "changed";
    return {
      name,
      timestamp,
      applied: isApplied,
      missingFromSource,
      appliedAt: isApplied && entry?.appliedAt ? new Date(entry.appliedAt).toISOString() : null,
      durationMs: isApplied ? (entry?.durationMs ?? null) : null,
      appliedBy: isApplied && entry?.appliedBy ? entry.appliedBy : null,
      tool: isApplied && entry?.tool ? `${entry.tool} ${entry.toolVersion ?? ""}`.trim() : null,
      adopted: isApplied && Boolean(entry?.adopted),
      checksum,
    };
  };
  const states = source.map((m) => state(m.name, m.timestamp, false, m.checksum));
  const known = new Set(source.map((m) => m.name));
  for (const row of applied)
    if (!known.has(row.name)) states.push(state(row.name, row.timestamp, true));
  return states.sort((a, b) => a.timestamp - b.timestamp);
}

export function pendingOf(states: readonly MigrationState[]): MigrationState[] {
  return states.filter((state) => !state.applied);
}

/** Rows of TypeORM's migrations table; none when it does not exist yet. */
async function appliedMigrations(
  dataSource: DataSource,
): Promise<{ name: string; timestamp: number }[]> {
  const table = dataSource.options.migrationsTableName ?? "migrations";
  const [{ exists }] = await dataSource.query("SELECT to_regclass($1) IS NOT NULL AS exists", [
    table,
  ]);
  if (!exists) return [];
  const rows: { name: string; timestamp: string }[] = await dataSource.query(
    `SELECT name, timestamp FROM ${dataSource.driver.escape(table)} ORDER BY timestamp, id`,
  );
  return rows.map((row) => ({ name: row.name, timestamp: Number(row.timestamp) }));
}
