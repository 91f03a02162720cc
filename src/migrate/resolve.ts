import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";
import { type ExecuteOptions, markApplied, markReverted, withLockedRunner } from "./executor.ts";
import { defaultApplier, forget, readLedger } from "./ledger.ts";

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
  const _table = dataSource.driver.escape(dataSource.options.migrationsTableName ?? "migrations");
  await withLockedRunner(
    dataSource,
    { ...options, resolving: true },
    async (runner, source, applied) => {
      const isApplied = (name: string) => applied.some((row) => row.name === name);
      if ("applied" in change) {
        const migration = source.find((m) => m.name === change.applied);
        if (!migration)
          throw new MigrateError("usage", `no migration named ${change.applied} in migrations/`);
        if (isApplied(migration.name))
          throw new MigrateError("nothingToDo", `${migration.name} is already applied`);
        const applier = options.applier ?? defaultApplier();
        await runner.startTransaction();
        await markApplied(runner, dataSource, migration, null, {
          ...applier,
          tool: `${applier.tool} resolve`,
        });
        await runner.commitTransaction();
        return;
      }
      if (!isApplied(change.rolledBack)) {
        // A transaction = false migration that did not finish: its ledger row is all there is.
        const entry = (await readLedger(runner)).get(change.rolledBack);
        if (!entry?.unfinished)
          throw new MigrateError("nothingToDo", `${change.rolledBack} is not applied`);
        await forget(runner, change.rolledBack);
        return;
      }
      await runner.startTransaction();
      await markReverted(runner, dataSource, change.rolledBack);
      await runner.commitTransaction();
    },
  );
}
