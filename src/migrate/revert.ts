import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";
import {
  type ExecuteOptions,
  failedAfter,
  revertOne,
  throwIfStopped,
  withLockedRunner,
} from "./executor.ts";
import { silentLogger } from "./logger.ts";

export interface RevertResult {
  reverted: string[];
}

/**
 * Reverts the `steps` most recently applied migrations, newest first, each by its down() in its
 * own transaction, under the migration lock. Fewer applied than asked: reverts them all.
 * Reverting several first rehearses them in a transaction that is rolled back, so one that would
 * lose data is refused before any of them is reverted (reverts are few: the rehearsal is cheap).
 */
export async function revertMigrations(
  dataSource: DataSource,
  steps: number,
  options: ExecuteOptions = {},
): Promise<RevertResult> {
  const logger = options.logger ?? silentLogger;
  options = { ...options, gateDataLoss: true };
  return withLockedRunner(dataSource, options, async (runner, source, applied) => {
    if (applied.length === 0)
      throw new MigrateError("nothingToDo", "nothing to revert: no migration has been applied");
    const bySource = new Map(source.map((m) => [m.name, m]));
    const batch = [...applied]
      .reverse()
      .slice(0, steps)
      .map((row) => {
        const migration = bySource.get(row.name);
        if (!migration) {
          throw new MigrateError(
            "migrationFailed",
            `cannot revert ${row.name}: it is applied but its file is not in migrations/ (restore the file first)`,
          );
        }
        return migration;
      });
    if (batch.length > 1 && !options.dryRun && !options.allowDataLoss) {
      await runner.startTransaction();
      try {
        const rehearsal = { ...options, dryRun: true, onStatement: undefined };
        for (const migration of batch) await revertOne(runner, dataSource, migration, rehearsal);
      } catch (error) {
        throw failedAfter(error, [], "reverted");
      } finally {
        await runner.rollbackTransaction().catch(() => undefined);
      }
    }
    const reverted: string[] = [];
    for (const migration of batch) {
      try {
        throwIfStopped(options, `before reverting ${migration.name}`);
      } catch (error) {
        throw failedAfter(
          error,
          reverted.map((name) => ({ name })),
          "reverted",
          options.dryRun,
        );
      }
      await revertOne(runner, dataSource, migration, options).catch((error) => {
        throw failedAfter(
          error,
          reverted.map((name) => ({ name })),
          "reverted",
          options.dryRun,
        );
      });
      logger.info(`${options.dryRun ? "would revert" : "reverted"} ${migration.name}`);
      reverted.push(migration.name);
    }
    return { reverted };
  });
}

/** Reverts the most recently applied migration. */
export async function revertLast(
  dataSource: DataSource,
  options: ExecuteOptions = {},
): Promise<{ reverted: string }> {
  const { reverted } = await revertMigrations(dataSource, 1, options);
  return { reverted: reverted[0] as string };
}
