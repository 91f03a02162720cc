import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";
import { defaultApplier, type ExecuteOptions, withPreparedRunner } from "./executor.ts";
import { forget, recordApplied } from "./ledger.ts";

/**
 * Records a migration as applied or as rolled back without running it: for when its changes were
 * made (or undone) by hand. Replaces editing the `migrations` table directly, keeping the
 * ledger consistent with it.
 */
export async function resolveMigration(
  dataSource: DataSource,
  change: { applied: string } | { rolledBack: string },
  options: ExecuteOptions = {},
): Promise<void> {
  const table = dataSource.driver.escape(dataSource.options.migrationsTableName ?? "migrations");
  await withPreparedRunner(dataSource, options, async (runner, source, applied) => {
    const isApplied = (name: string) => applied.some((row) => row.name === name);
    if ("applied" in change) {
      const migration = source.find((m) => m.name === change.applied);
      if (!migration)
        throw new MigrateError("usage", `no migration named ${change.applied} in migrations/`);
      if (isApplied(migration.name))
        throw new MigrateError("nothingToDo", `${migration.name} is already applied`);
      await runner.startTransaction();
      await runner.query(`INSERT INTO ${table} ("timestamp", "name") VALUES ($1, $2)`, [
        migration.timestamp,
        migration.name,
      ]);
      await recordApplied(runner, {
        name: migration.name,
        checksum: migration.checksum ?? null,
        durationMs: null,
        applier: {
          ...(options.applier ?? defaultApplier()),
          tool: `${(options.applier ?? defaultApplier()).tool} resolve`,
        },
      });
      await runner.commitTransaction();
      return;
    }
    if (!isApplied(change.rolledBack))
      throw new MigrateError("nothingToDo", `${change.rolledBack} is not applied`);
    await runner.startTransaction();
    await runner.query(`DELETE FROM ${table} WHERE "name" = $1`, [change.rolledBack]);
    await forget(runner, change.rolledBack);
    await runner.commitTransaction();
  });
}
