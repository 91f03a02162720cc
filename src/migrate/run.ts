import type { DataSource } from "typeorm";
import {
  type AppliedMigration,
  applyOne,
  type ExecuteOptions,
  failedAfter,
  throwIfStopped,
  withLockedRunner,
} from "./executor.ts";
import { silentLogger } from "./logger.ts";

export interface RunMigrationsResult {
  applied: AppliedMigration[];
}

/**
 * Applies every pending migration, oldest first, each in its own transaction, under the
 * migration lock. When one fails, its transaction is rolled back, the ones before it stay
 * applied, and a `migrationFailed` error names it. A second runner that waited for the lock
 * finds nothing left to do.
 */
export async function runMigrations(
  dataSource: DataSource,
  options: ExecuteOptions = {},
): Promise<RunMigrationsResult> {
  const logger = options.logger ?? silentLogger;
  options = { ...options, gateDataLoss: true };
  return withLockedRunner(dataSource, options, async (runner, source, applied) => {
    const done = new Set(applied.map((row) => row.name));
    const pending = source
      .filter((m) => !done.has(m.name))
      .sort((a, b) => a.timestamp - b.timestamp);
    if (pending.length > 0)
      logger.info(`${pending.length} pending migration${pending.length === 1 ? "" : "s"}`);
    const results: AppliedMigration[] = [];
    for (const migration of pending) {
      try {
        throwIfStopped(options, `before ${migration.name}`);
      } catch (error) {
        throw failedAfter(error, results, "applied", options.dryRun);
      }
      const result = await applyOne(runner, dataSource, migration, options).catch((error) => {
        throw failedAfter(error, results, "applied", options.dryRun);
      });
      logger.info(
        `${options.dryRun ? "would apply" : "applied"} ${result.name} (${result.durationMs} ms)`,
      );
      results.push(result);
    }
    return { applied: results };
  });
}
