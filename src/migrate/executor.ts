import { hostname } from "node:os";
import { type DataSource, MigrationExecutor, type QueryRunner } from "typeorm";
import { type Checksums, type SourceMigration, sourceMigrations } from "./checksum.ts";
import { MigrateError } from "./errors.ts";
import {
  type Applier,
  acceptChecksum,
  ensureLedger,
  forget,
  readLedger,
  recordApplied,
} from "./ledger.ts";
import { withMigrationLock } from "./lock.ts";
import { type MigrateLogger, silentLogger } from "./logger.ts";

/**
 * Runs and reverts migrations one at a time, each in its own transaction together with its rows
 * in TypeORM's `migrations` table and in the ledger, under the migration lock. TypeORM's own
 * runner is not used: it cannot time each migration, write the ledger in the same transaction,
 * show the SQL it runs, or refuse an edited migration.
 */
export interface ExecuteOptions {
  logger?: MigrateLogger;
  /** Source checksums by migration name (the registry's `checksums`). */
  checksums?: Checksums;
  applier?: Applier;
  /** How long to wait for another migrator's lock. */
  lockTimeoutMs?: number;
  /** Applied migrations whose edited source the operator accepts (ledger updated). */
  acceptChanged?: readonly string[];
  /** Run everything inside one transaction and roll it back: the database is left as it was. */
  dryRun?: boolean;
  /**
   * lock_timeout for each migration's transaction: a migration waiting for a lock (say, behind a
   * long query) fails after this long instead of queueing every other query behind it.
   */
  lockWaitMs?: number;
  /** Every SQL statement a migration's up() or down() runs, in order. */
  onStatement?: (migration: string, sql: string, parameters?: readonly unknown[]) => void;
}

export interface AppliedMigration {
  name: string;
  durationMs: number;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
export const DEFAULT_LOCK_WAIT_MS = 10_000;

export function defaultApplier(tool = "backupctl-toolkit", version = "unknown"): Applier {
  return { host: hostname(), tool, version };
}

/** Opens a runner, takes the lock, prepares the bookkeeping tables, checks checksums, then `work`. */
export async function withPreparedRunner<T>(
  dataSource: DataSource,
  options: ExecuteOptions,
  work: (runner: QueryRunner, source: SourceMigration[], applied: AppliedRow[]) => Promise<T>,
): Promise<T> {
  const logger = options.logger ?? silentLogger;
  return withMigrationLock(
    dataSource,
    {
      timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      onWaiting: (holder) => logger.info(`waiting for the migration lock, held by ${holder}`),
    },
    async () => {
      const runner = dataSource.createQueryRunner();
      try {
        if (options.dryRun) await runner.startTransaction();
        await prepareTables(dataSource, runner, options.lockWaitMs);
        const source = sourceMigrations(dataSource, options.checksums);
        const applied = await appliedRows(runner, dataSource);
        await reconcileLedger(runner, source, applied, options, logger);
        const result = await work(runner, source, applied);
        if (options.dryRun) await runner.rollbackTransaction();
        return result;
      } catch (error) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      } finally {
        // The connection goes back to the pool: without the migrations' lock_timeout.
        await runner.query("RESET lock_timeout").catch(() => undefined);
        await runner.release();
      }
    },
  );
}

/**
 * TypeORM's `migrations` table, created by TypeORM's own (protected) method so it is exactly the
 * table its CLI creates and reads, and the ledger beside it.
 */
async function prepareTables(
  dataSource: DataSource,
  runner: QueryRunner,
  lockWaitMs = DEFAULT_LOCK_WAIT_MS,
): Promise<void> {
  // For the whole session rather than SET LOCAL per migration: one round trip, not one each.
  await runner.query(`SET lock_timeout = ${Math.round(lockWaitMs)}`);
  const executor = new MigrationExecutor(dataSource, runner) as unknown as {
    createMigrationsTableIfNotExist(queryRunner: QueryRunner): Promise<void>;
  };
  await executor.createMigrationsTableIfNotExist(runner);
  await ensureMetadataTable(dataSource, runner);
  await ensureLedger(runner);
}

/**
 * TypeORM's `typeorm_metadata`, where generated columns and views record their expression, when
 * the entities have any: created as TypeORM's own migration runner does before migrations run.
 */
export async function ensureMetadataTable(dataSource: DataSource, runner: QueryRunner) {
  const builder = dataSource.driver.createSchemaBuilder() as unknown as {
    createMetadataTableIfNecessary?(queryRunner: QueryRunner): Promise<void>;
  };
  await builder.createMetadataTableIfNecessary?.(runner);
}

/** A runner on a database with the bookkeeping tables, without the lock: for throwaway databases. */
export async function prepareRunner(
  dataSource: DataSource,
  lockWaitMs?: number,
): Promise<QueryRunner> {
  const runner = dataSource.createQueryRunner();
  await prepareTables(dataSource, runner, lockWaitMs);
  return runner;
}

export interface AppliedRow {
  id: number;
  name: string;
  timestamp: number;
}

async function appliedRows(runner: QueryRunner, dataSource: DataSource): Promise<AppliedRow[]> {
  const table = dataSource.driver.escape(dataSource.options.migrationsTableName ?? "migrations");
  const rows: { id: number; name: string; timestamp: string }[] = await runner.query(
    `SELECT id, name, timestamp FROM ${table} ORDER BY id`,
  );
  return rows.map((row) => ({
    id: Number(row.id),
    name: row.name,
    timestamp: Number(row.timestamp),
  }));
}

/**
 * Adopts applied migrations the ledger does not know (applied before it existed, or by TypeORM's
 * own CLI) and refuses to go on when an applied migration's source changed since, unless the
 * operator accepted that migration by name.
 */
async function reconcileLedger(
  runner: QueryRunner,
  source: SourceMigration[],
  applied: AppliedRow[],
  options: ExecuteOptions,
  logger: MigrateLogger,
): Promise<void> {
  const ledger = await readLedger(runner);
  const bySource = new Map(source.map((m) => [m.name, m]));
  const accepted = new Set(options.acceptChanged ?? []);
  const applier = options.applier ?? defaultApplier();
  const changed: string[] = [];
  for (const row of applied) {
    const checksum = bySource.get(row.name)?.checksum ?? null;
    const entry = ledger.get(row.name);
    if (!entry) {
      await recordApplied(runner, {
        name: row.name,
        checksum,
        durationMs: null,
        applier,
        adopted: true,
      });
      continue;
    }
    if (!checksum || !entry.checksum || checksum === entry.checksum) continue;
    if (accepted.has(row.name)) {
      await acceptChecksum(runner, row.name, checksum);
      logger.warn(`accepted the edited source of applied migration ${row.name}`);
    } else {
      changed.push(row.name);
    }
  }
  for (const name of accepted) {
    if (!applied.some((row) => row.name === name)) {
      throw new MigrateError(
        "usage",
        `--accept-changed ${name}: no applied migration has that name`,
      );
    }
  }
  if (changed.length > 0) {
    throw new MigrateError(
      "checksum",
      `applied migration${changed.length > 1 ? "s" : ""} ${changed.join(", ")} changed since ${changed.length > 1 ? "they were" : "it was"} applied: restore the applied source and put the change in a new migration (or, if the edit is harmless, accept it with --accept-changed ${changed[0]})`,
    );
  }
}

/** Runs `step` with every statement it sends through the runner reported to onStatement. */
async function capturing(
  runner: QueryRunner,
  migration: string,
  options: ExecuteOptions,
  step: () => Promise<void>,
): Promise<void> {
  const onStatement = options.onStatement;
  if (!onStatement) return step();
  const original = runner.query.bind(runner);
  runner.query = ((sql: string, parameters?: unknown[], structured?: boolean) => {
    onStatement(migration, sql, parameters);
    return original(sql, parameters, structured as never);
  }) as QueryRunner["query"];
  try {
    await step();
  } finally {
    runner.query = original;
  }
}

/** In its own transaction (unless the migration opts out with `transaction = false`). */
async function inTransaction(
  runner: QueryRunner,
  migration: SourceMigration,
  what: string,
  work: () => Promise<void>,
): Promise<void> {
  const own =
    (migration.instance as { transaction?: boolean }).transaction !== false ||
    runner.isTransactionActive;
  if (own) await runner.startTransaction();
  try {
    await work();
    if (own) await runner.commitTransaction();
  } catch (error) {
    if (own) await runner.rollbackTransaction().catch(() => undefined);
    throw new MigrateError(
      "migrationFailed",
      `${what} failed and was rolled back: ${firstLine(error)}`,
      {
        cause: error,
      },
    );
  }
}

export async function applyOne(
  runner: QueryRunner,
  dataSource: DataSource,
  migration: SourceMigration,
  options: ExecuteOptions,
): Promise<AppliedMigration> {
  const started = performance.now();
  let durationMs = 0;
  await inTransaction(runner, migration, `migration ${migration.name}`, async () => {
    await capturing(runner, migration.name, options, () => migration.instance.up(runner));
    durationMs = Math.round(performance.now() - started);
    await markApplied(
      runner,
      dataSource,
      migration,
      durationMs,
      options.applier ?? defaultApplier(),
    );
  });
  return { name: migration.name, durationMs };
}

/** Records a migration as applied: TypeORM's row and the ledger's, in the caller's transaction. */
export async function markApplied(
  runner: QueryRunner,
  dataSource: DataSource,
  migration: SourceMigration,
  durationMs: number | null,
  applier: Applier,
): Promise<void> {
  await recordApplied(
    runner,
    { name: migration.name, checksum: migration.checksum ?? null, durationMs, applier },
    { table: migrationsTable(dataSource), timestamp: migration.timestamp },
  );
}

/** Records a migration as not applied: removes TypeORM's row and the ledger's. */
export async function markReverted(
  runner: QueryRunner,
  dataSource: DataSource,
  name: string,
): Promise<void> {
  await runner.query(`DELETE FROM ${migrationsTable(dataSource)} WHERE "name" = $1`, [name]);
  await forget(runner, name);
}

function migrationsTable(dataSource: DataSource): string {
  return dataSource.driver.escape(dataSource.options.migrationsTableName ?? "migrations");
}

export async function revertOne(
  runner: QueryRunner,
  dataSource: DataSource,
  migration: SourceMigration,
  options: ExecuteOptions,
): Promise<void> {
  await inTransaction(runner, migration, `reverting ${migration.name}`, async () => {
    await capturing(runner, migration.name, options, () => migration.instance.down(runner));
    await markReverted(runner, dataSource, migration.name);
  });
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
