import type { DataSource } from "typeorm";
import { type Checksums, type SourceMigration, sourceMigrations } from "./checksum.ts";
import { type Queryable, readLedger } from "./ledger.ts";

/** What status needs of a migration's source: no class, so it can come from the files alone. */
export type SourceEntry = Pick<SourceMigration, "name" | "timestamp" | "checksum">;

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
  /** A `transaction = false` migration that started and did not finish: migrate:resolve it. */
  unfinished: boolean;
  checksum: ChecksumState;
}

/** Every migration known to the source or the database, oldest first, with whether it ran. */
export async function migrationStatus(
  dataSource: DataSource,
  checksums: Checksums = {},
): Promise<MigrationState[]> {
  return readStatus(
    dataSource,
    sourceMigrations(dataSource, checksums),
    dataSource.options.migrationsTableName ?? "migrations",
  );
}

/** The same, from any connection and a source list: what `migrate:show` needs without TypeORM. */
export async function readStatus(
  db: Queryable,
  source: readonly SourceEntry[],
  table = "migrations",
): Promise<MigrationState[]> {
  const applied = await appliedMigrations(db, table);
  const ledger = await readLedger(db);
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
      unfinished: Boolean(entry?.unfinished),
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
  db: Queryable,
  table: string,
): Promise<{ name: string; timestamp: number }[]> {
  const quoted = `"${table.replace(/"/g, '""')}"`;
  const [found] = (await db.query("SELECT to_regclass($1) IS NOT NULL AS exists", [quoted])) as {
    exists: boolean;
  }[];
  if (!found?.exists) return [];
  const rows = (await db.query(`SELECT name, timestamp FROM ${quoted} ORDER BY timestamp, id`)) as {
    name: string;
    timestamp: string;
  }[];
  return rows.map((row) => ({ name: row.name, timestamp: Number(row.timestamp) }));
}

/** Whether a run would find nothing to do: nothing pending, nothing to adopt, nothing edited. */
export function upToDate(states: readonly MigrationState[]): boolean {
  return states.every(
    (state) => state.applied && !state.missingFromSource && state.checksum === "ok",
  );
}
