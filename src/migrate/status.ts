import type { DataSource } from "typeorm";

export interface MigrationState {
  /** Class name as TypeORM records it, e.g. `CreateBackupLogTable1710720000000`. */
  name: string;
  timestamp: number;
  applied: boolean;
  /** Applied in the database but no longer in the source (deleted or renamed file). */
  missingFromSource: boolean;
}

/** Every migration known to the source or the database, oldest first, with whether it ran. */
export async function migrationStatus(dataSource: DataSource): Promise<MigrationState[]> {
  const known = sourceMigrations(dataSource);
  const applied = await appliedMigrations(dataSource);
  const appliedNames = new Set(applied.map((m) => m.name));
  const states: MigrationState[] = known.map((m) => ({
    name: m.name,
    timestamp: m.timestamp,
    applied: appliedNames.has(m.name),
    missingFromSource: false,
  }));
  const knownNames = new Set(known.map((m) => m.name));
  for (const row of applied) {
    if (!knownNames.has(row.name)) {
      states.push({
        name: row.name,
        timestamp: row.timestamp,
        applied: true,
        missingFromSource: true,
      });
    }
  }
  return states.sort((a, b) => a.timestamp - b.timestamp);
}

export function pendingOf(states: readonly MigrationState[]): MigrationState[] {
  return states.filter((state) => !state.applied);
}

/** The migrations the DataSource was given, named and timestamped the way TypeORM does it. */
export function sourceMigrations(dataSource: DataSource): { name: string; timestamp: number }[] {
  return dataSource.migrations.map((migration) => {
    const name = migration.name ?? migration.constructor.name;
    return { name, timestamp: Number(name.slice(-13)) };
  });
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
