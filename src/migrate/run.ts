import type { DataSource } from "typeorm";
import { asConnectError, isConnectError } from "./connect.ts";
import { MigrateError } from "./errors.ts";
import { type MigrateLogger, silentLogger } from "./logger.ts";
import { type MigrationState, migrationStatus, pendingOf } from "./status.ts";

export interface RunResult {
  applied: string[];
}

/**
 * Applies every pending migration, each in its own transaction, oldest first. When one fails,
 * its transaction is rolled back, the ones before it stay applied, and a `migrationFailed` error
 * names it.
 */
export async function runMigrations(
  dataSource: DataSource,
  logger: MigrateLogger = silentLogger,
): Promise<RunResult> {
  const pending = pendingOf(await migrationStatus(dataSource));
  if (pending.length === 0) return { applied: [] };
  logger.info(`${pending.length} pending migration${pending.length === 1 ? "" : "s"}`);
  try {
    const ran = await dataSource.runMigrations({ transaction: "each" });
    return { applied: ran.map((m) => m.name) };
  } catch (error) {
    if (isConnectError(error) && !(error as { code?: string }).code?.match(/^[0-9A-Z]{5}$/)) {
      throw asConnectError(error, dataSource.options);
    }
    const failed = await firstStillPending(dataSource, pending);
    throw new MigrateError(
      "migrationFailed",
      `migration ${failed ?? "(unknown)"} failed and was rolled back: ${firstLine(error)}`,
      { cause: error },
    );
  }
}

async function firstStillPending(
  dataSource: DataSource,
  pendingBefore: MigrationState[],
): Promise<string | undefined> {
  try {
    const stillPending = new Set(pendingOf(await migrationStatus(dataSource)).map((m) => m.name));
    return pendingBefore.find((m) => stillPending.has(m.name))?.name;
  } catch {
    return undefined;
  }
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
