import type pg from "pg";
import { type DataSource, MigrationExecutor, type QueryRunner } from "typeorm";
import { RdbmsSchemaBuilder } from "typeorm/schema-builder/RdbmsSchemaBuilder.js";
import { STOP_SIGNALS, type StopSignal } from "../cli/exit-codes.ts";
import { type Checksums, type SourceMigration, sourceMigrations } from "./checksum.ts";
import { type Direction, dataLossOf, reviewedReason } from "./data-loss.ts";
import { type DoneStep, MigrateError } from "./errors.ts";
import {
  type Applier,
  acceptChecksum,
  claimForApplySql,
  claimForRevert,
  completeAppliedSql,
  defaultApplier,
  ensureLedger,
  forget,
  forgetSql,
  forgetUnrecorded,
  LEDGER_TABLE,
  type LedgerEntry,
  readLedger,
  recordApplied,
} from "./ledger.ts";
import {
  acquireMigrationLock,
  DEFAULT_LOCK_TIMEOUT_MS,
  holdsMigrationLock,
  releaseMigrationLock,
} from "./lock.ts";
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
  /** migrate:resolve: a migration left unfinished is what it settles, not a reason to refuse. */
  resolving?: boolean;
  /** Run everything inside one transaction and roll it back: the database is left as it was. */
  dryRun?: boolean;
  /**
   * lock_timeout for each migration's transaction: a migration waiting for a lock (say, behind a
   * long query) fails after this long instead of queueing every other query behind it.
   */
  lockWaitMs?: number;
  /**
   * Aborted (with the signal's name as reason) to stop the run: the running statement is
   * cancelled, its migration rolled back, and no further migration starts.
   */
  signal?: AbortSignal;
  /**
   * Refuse statements that would lose data (set by run and revert). Off for the shadow and
   * scratch databases verify and generate build: their data is thrown away.
   */
  gateDataLoss?: boolean;
  /** Run migrations that would lose data although they give no reason (`--allow-data-loss`). */
  allowDataLoss?: boolean;
  /** Every SQL statement a migration's up() or down() runs, in order. */
  onStatement?: (migration: string, sql: string, parameters?: readonly unknown[]) => void;
}

export interface AppliedMigration {
  name: string;
  durationMs: number;
}

export const DEFAULT_LOCK_WAIT_MS = 10_000;

/**
 * Opens one session, takes the migration lock on it, prepares the bookkeeping tables, checks
 * checksums, then `work` on that same session: if the session ends, the lock and the work end
 * together, and the error says so.
 */
export async function withLockedRunner<T>(
  dataSource: DataSource,
  options: ExecuteOptions,
  work: (runner: QueryRunner, source: SourceMigration[], applied: AppliedRow[]) => Promise<T>,
): Promise<T> {
  const logger = options.logger ?? silentLogger;
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    const pid = await acquireMigrationLock(runner, {
      timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      onWaiting: (holder) => logger.info(`waiting for the migration lock, held by ${holder}`),
    });
    // As psql's Ctrl-C: cancel the statement the session is running (from another connection).
    const cancel = () => {
      dataSource.query("SELECT pg_cancel_backend($1)", [pid]).catch(() => undefined);
    };
    options.signal?.addEventListener("abort", cancel, { once: true });
    try {
      if (options.dryRun) await runner.startTransaction();
      await prepareTables(dataSource, runner, options.lockWaitMs);
      const source = sourceMigrations(dataSource, options.checksums);
      const applied = await appliedRows(runner, dataSource);
      await reconcileLedger(runner, dataSource, source, applied, options, logger);
      const result = await work(runner, source, applied);
      if (options.dryRun) await runner.rollbackTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      if (options.signal?.aborted) throw stopped(options.signal, error);
      throw await explainLostSession(runner, error);
    } finally {
      options.signal?.removeEventListener("abort", cancel);
      // The connection goes back to the pool: without the lock and the migrations' lock_timeout.
      await releaseMigrationLock(runner).catch(() => undefined);
      await runner.query("RESET lock_timeout").catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

/** The failure a stop signal makes of whatever the run was doing: exit 130 or 143. */
function stopped(signal: AbortSignal, error: unknown): MigrateError {
  const name = String(signal.reason) as StopSignal;
  const kind = STOP_SIGNALS[name] ?? "terminated";
  if (error instanceof MigrateError && error.kind === kind) return error;
  const what = error instanceof MigrateError ? error.message : firstLine(error);
  const done = error instanceof MigrateError ? error.done : [];
  return new MigrateError(kind, `stopped by ${name}: ${what}`, { cause: error, done });
}

/** Stops before the next statement or migration once the run was told to stop. */
export function throwIfStopped(options: ExecuteOptions, where: string): void {
  const signal = options.signal;
  if (!signal?.aborted) return;
  const name = String(signal.reason) as StopSignal;
  throw new MigrateError(STOP_SIGNALS[name] ?? "terminated", `stopped by ${name} ${where}`);
}

/**
 * A failure on a session that no longer holds the lock (it was terminated, timed out, or the
 * server restarted) is a lost lock, whatever the statement that noticed it: exit 9, and what
 * was done before stays done.
 */
async function explainLostSession(runner: QueryRunner, error: unknown): Promise<unknown> {
  if (await holdsMigrationLock(runner)) return error;
  const done = error instanceof MigrateError ? error.done : [];
  const what = error instanceof MigrateError ? error.message : firstLine(error);
  return new MigrateError(
    "lock",
    `lost the database session, and the migration lock with it: ${what}`,
    { cause: error, done },
  );
}

/**
 * The failure of one step of a run or revert, saying what the steps before it did (that stays
 * done): one line, and `done` for --json.
 */
export function failedAfter(
  error: unknown,
  done: readonly DoneStep[],
  verb: "applied" | "reverted",
  /** A dry run keeps nothing: the steps before it were rolled back too. */
  dryRun = false,
): unknown {
  if (!(error instanceof MigrateError)) return error;
  const names = done.map((d) => d.name).join(", ");
  const sofar = error.leftTransaction
    ? `${dryRun ? "a dry run, but " : ""}its own COMMIT or ROLLBACK ended the transaction around it, so what ran before it in this run is kept${names ? ` (${names})` : ""}: check with migrate:show`
    : dryRun
      ? `a dry run: nothing was ${verb}${names ? `; the ones before it (${names}) were rolled back too` : ""}`
      : done.length === 0
        ? `nothing was ${verb}`
        : `${verb} before it (and kept): ${names}`;
  return new MigrateError(error.kind, `${error.message} (${sofar})`, {
    cause: error.cause,
    done,
    leftTransaction: error.leftTransaction,
  });
}

/**
 * TypeORM's `migrations` table as its own MigrationExecutor creates it, so it is exactly the table
 * its CLI creates and reads. The method is protected: a subclass reaches it with type checking, so
 * a TypeORM that renames it fails to compile instead of failing at run time.
 */
class MigrationsTable extends MigrationExecutor {
  create(runner: QueryRunner): Promise<void> {
    return this.createMigrationsTableIfNotExist(runner);
  }
}

/** The bookkeeping tables: TypeORM's `migrations` and `typeorm_metadata`, and the ledger. */
async function prepareTables(
  dataSource: DataSource,
  runner: QueryRunner,
  lockWaitMs = DEFAULT_LOCK_WAIT_MS,
): Promise<void> {
  // For the whole session rather than SET LOCAL per migration: one round trip, not one each.
  await runner.query(`SET lock_timeout = ${Math.round(lockWaitMs)}`);
  await new MigrationsTable(dataSource, runner).create(runner);
  await ensureMetadataTable(dataSource, runner);
  await ensureLedger(runner);
}

/**
 * TypeORM's `typeorm_metadata`, where generated columns and views record their expression, when
 * the entities have any: created as TypeORM's own migration runner does before migrations run.
 */
export async function ensureMetadataTable(dataSource: DataSource, runner: QueryRunner) {
  const builder = dataSource.driver.createSchemaBuilder();
  // PostgreSQL's builder is always an RdbmsSchemaBuilder (public method, typed).
  if (builder instanceof RdbmsSchemaBuilder) await builder.createMetadataTableIfNecessary(runner);
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
 * own CLI), forgets ledger rows TypeORM's table no longer lists, and refuses to go on when an
 * applied migration's source changed since, unless the operator accepted that migration by name.
 * Everything is checked before anything is written, and written in one transaction: a refused
 * acceptance stores nothing.
 */
async function reconcileLedger(
  runner: QueryRunner,
  dataSource: DataSource,
  source: SourceMigration[],
  applied: AppliedRow[],
  options: ExecuteOptions,
  logger: MigrateLogger,
): Promise<void> {
  const ledger = await readLedger(runner);
  const bySource = new Map(source.map((m) => [m.name, m]));
  const accepted = new Set(options.acceptChanged ?? []);
  const applier = options.applier ?? defaultApplier();
  const adopt: { name: string; checksum: string | null }[] = [];
  const accept: { name: string; checksum: string }[] = [];
  const changed: string[] = [];
  for (const row of applied) {
    const checksum = bySource.get(row.name)?.checksum ?? null;
    const entry = ledger.get(row.name);
    if (!entry) adopt.push({ name: row.name, checksum });
    else if (!checksum || !entry.checksum || checksum === entry.checksum) continue;
    else if (accepted.has(row.name)) accept.push({ name: row.name, checksum });
    else changed.push(row.name);
  }
  for (const name of accepted) {
    if (!applied.some((row) => row.name === name)) {
      throw new MigrateError(
        "usage",
        `--accept-changed ${name}: no applied migration has that name`,
      );
    }
  }
  const unfinished = [...ledger.values()].filter((entry) => entry.unfinished);
  if (unfinished.length > 0 && !options.resolving) {
    const [first] = unfinished as [LedgerEntry];
    const from = bySource.get(first.name);
    const why = from && transactional(from) ? "ended its own transaction" : "transaction = false";
    throw new MigrateError(
      "migrationFailed",
      `${first.name} (${why}) started${first.appliedAt ? ` at ${first.appliedAt.toISOString()}` : ""}${first.appliedBy ? ` on ${first.appliedBy}` : ""} and did not finish; what it did is kept, so it is not run again by itself: check its effects, then record it with migrate:resolve --applied ${first.name} (it did its work) or --rolled-back ${first.name} (undone, to run again)`,
    );
  }
  if (changed.length > 0) {
    throw new MigrateError(
      "checksum",
      `applied migration${changed.length > 1 ? "s" : ""} ${changed.join(", ")} changed since ${changed.length > 1 ? "they were" : "it was"} applied: restore the applied source and put the change in a new migration (or, if the edit is harmless, accept it with --accept-changed ${changed[0]})${accept.length > 0 ? `; nothing was accepted` : ""}`,
    );
  }
  const stale = [...ledger.keys()].some((name) => !applied.some((row) => row.name === name));
  if (adopt.length === 0 && accept.length === 0 && !stale) return;
  await runner.startTransaction();
  try {
    if (stale) await forgetUnrecorded(runner, migrationsTable(dataSource));
    for (const { name, checksum } of adopt) {
      await recordApplied(runner, { name, checksum, durationMs: null, applier, adopted: true });
    }
    for (const { name, checksum } of accept) await acceptChecksum(runner, name, checksum);
    await runner.commitTransaction();
  } catch (error) {
    await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  }
  for (const { name } of accept) {
    logger.warn(`accepted the edited source of applied migration ${name}`);
  }
}

/**
 * Runs `step` with every statement it sends through the runner reported to onStatement and
 * passed through the data-loss gate first: a statement that would lose data, in a migration
 * that does not give a reason for it, is refused before it is sent (unless --allow-data-loss).
 */
async function guarded(
  runner: QueryRunner,
  migration: SourceMigration,
  direction: Direction,
  options: ExecuteOptions,
  step: () => Promise<void>,
): Promise<void> {
  const onStatement = options.onStatement;
  const checked = Boolean(options.gateDataLoss);
  const reason = reviewedReason(migration.instance, direction);
  const gate = checked && !options.allowDataLoss && !reason;
  // Let through, but still said: what was lost, and on whose word.
  const allowedBy = reason ? `its reason: ${reason}` : "--allow-data-loss";
  // A dry run of a `transaction = false` migration (CREATE INDEX CONCURRENTLY) cannot run it in
  // the dry run's transaction: it shows its statements and runs only the reads its helpers need.
  const showOnly = Boolean(options.dryRun) && !transactional(migration);
  if (!onStatement && !checked && !showOnly && !options.signal) return step();
  const original = runner.query.bind(runner);
  const what = direction === "up" ? migration.name : `reverting ${migration.name}`;
  runner.query = (async (sql: string, parameters?: unknown[], structured?: boolean) => {
    throwIfStopped(options, `in ${migration.name}; it was rolled back`);
    const loss = checked ? await dataLossOf(sql, { query: original }) : undefined;
    if (loss && !gate) {
      options.logger?.warn(`${what} ${loss} (${firstLine(sql.trim())}): allowed by ${allowedBy}`);
    } else if (loss) {
      throw new MigrateError(
        "dataLoss",
        `${what} would lose data: it ${loss} (${firstLine(sql.trim())}); it was rolled back. If that is intended, give the reason in the migration (allowDataLoss = { ${direction}: "…" }) or pass --allow-data-loss`,
      );
    }
    onStatement?.(migration.name, sql, parameters);
    if (showOnly && !/^\s*(?:select|show)\b/i.test(sql)) return structured ? { records: [] } : [];
    return original(sql, parameters, structured as never);
  }) as QueryRunner["query"];
  try {
    await step();
  } finally {
    runner.query = original;
  }
}

/**
 * TypeORM's runner keeps every table its helpers loaded (addColumn, dropIndex …) for its whole
 * life; raw query() calls do not update that cache. Each migration starts from what the database
 * says, not from what an earlier migration's helpers remembered.
 */
function forgetLoadedTables(runner: QueryRunner): void {
  const cache = runner as unknown as { loadedTables: unknown[]; cachedTablePaths: object };
  cache.loadedTables = [];
  cache.cachedTablePaths = {};
}

/** False for a migration that opts out of its transaction (`transaction = false`). */
export function transactional(migration: SourceMigration): boolean {
  return (migration.instance as { transaction?: boolean }).transaction !== false;
}

/**
 * In its own transaction (unless the migration opts out with `transaction = false`). `claim`,
 * when given, is a statement sent with the transaction's start; `work` learns whether it
 * returned a row (undefined: no transaction, nothing claimed).
 */
/** A statement built from escaped literals, to send with another in one round trip. */
type LiteralStatement = (literal: (value: string) => string) => string;

/**
 * The bookkeeping sent with COMMIT. `guards` when it records nothing unless the session is still
 * in the migration's transaction (and says so with its row count); otherwise COMMIT is guarded
 * by a statement of its own.
 */
interface ClosingStatement {
  sql: LiteralStatement;
  guards: boolean;
}

async function inTransaction(
  runner: QueryRunner,
  migration: SourceMigration,
  what: string,
  /** Returns the bookkeeping statement that must commit with the work, if any. */
  work: (
    claimed: boolean | undefined,
    xid: string | undefined,
  ) => Promise<ClosingStatement | undefined>,
  claim?: LiteralStatement,
): Promise<void> {
  const own = transactional(migration) || runner.isTransactionActive;
  forgetLoadedTables(runner);
  let started: Started = { claimed: undefined, xid: undefined };
  try {
    if (own) started = await begin(runner, claim);
    const closing = await work(started.claimed, started.xid);
    if (own) await commit(runner, closing, started.xid);
    else if (closing) await runner.query(closing.sql(await literalOf(runner)));
  } catch (error) {
    if (own) {
      // Its own COMMIT or ROLLBACK (SQL pasted from a psql script) ended the transaction: what ran
      // outside it is permanent, whatever TypeORM believes. Seen by the bookkeeping recording
      // nothing, by the session being in no transaction or another one, or by the unfinished
      // claim having been committed with the migration's COMMIT.
      const left =
        error instanceof LeftItsTransaction || (await leftTransaction(runner, started.xid));
      if (left) await abandonTransaction(runner);
      else await runner.rollbackTransaction().catch(() => undefined);
      if (left || (await leftUnfinished(runner, migration.name))) {
        await markUnfinished(runner, migration.name);
        throw new MigrateError(
          "migrationFailed",
          `${what} ended its transaction itself (COMMIT or ROLLBACK in its SQL), so it could not be rolled back: ${firstLine(error)}. What it did outside its transaction is kept and it is recorded as unfinished: check its effects, then record it with migrate:resolve --applied or --rolled-back`,
          { cause: error, leftTransaction: true },
        );
      }
    }
    if (!own && !(error instanceof MigrateError && error.kind === "lock")) {
      // Nothing to roll back: say so, whatever stopped it (a failure, a signal, the gate).
      const reason = error instanceof MigrateError ? error.message : firstLine(error);
      throw new MigrateError(
        error instanceof MigrateError ? error.kind : "migrationFailed",
        `${what} stopped outside a transaction (transaction = false): ${reason.replace(/; it was rolled back/, "")}. What it did before is kept and it is recorded as unfinished: check its effects, then record it with migrate:resolve --applied or --rolled-back`,
        { cause: error },
      );
    }
    if (error instanceof MigrateError) throw error;
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
  const table = migrationsTable(dataSource);
  const applier = options.applier ?? defaultApplier();
  // Defence in depth behind the lock: claim the migration before up(), in its transaction.
  // Marked unfinished until completeAppliedSql, in the same transaction: only a migration that
  // ends its transaction itself (or runs outside one) can leave the mark committed.
  const claim = (literal: (value: string) => string) =>
    claimForApplySql(
      { ...migration, checksum: migration.checksum ?? null, applier },
      table,
      literal,
      true,
    );
  const work = async (claimed: boolean | undefined, xid: string | undefined) => {
    // Outside a transaction (transaction = false) the claim is committed before up() runs and
    // marks the migration unfinished until it completes: one stopped half-way is never run again
    // by itself (the next run refuses until migrate:resolve says what became of it).
    const ok = claimed ?? (await claimOutsideTransaction(runner, claim));
    if (!ok) throw alreadyDone(migration.name, "applied");
    await guarded(runner, migration, "up", options, () => migration.instance.up(runner));
    durationMs = Math.round(performance.now() - started);
    const entry = { name: migration.name, durationMs, timestamp: migration.timestamp };
    return {
      sql: (literal: (value: string) => string) => completeAppliedSql(entry, table, literal, xid),
      guards: xid !== undefined,
    };
  };
  await inTransaction(runner, migration, `migration ${migration.name}`, work, claim);
  return { name: migration.name, durationMs };
}

/** What starting a migration's transaction found: the claim's answer and the transaction id. */
interface Started {
  /** The claim inserted its row (undefined: nothing claimed). */
  claimed: boolean | undefined;
  /** The transaction's id, to tell at COMMIT that the migration did not leave it. */
  xid: string | undefined;
}

const CURRENT_XID = "SELECT pg_current_xact_id()::text AS xid";

/**
 * Starts the transaction; with the claim and the transaction id in the same round trip as
 * TypeORM's START TRANSACTION (statements in one simple-protocol query, on the session's own pg
 * client): the defence behind the lock costs no extra round trip. Nested (a dry run's savepoint)
 * or with an isolation level set: queries of their own.
 */
async function begin(runner: QueryRunner, claim?: LiteralStatement): Promise<Started> {
  const sql = claim?.(await literalOf(runner));
  // TypeORM sends SET TRANSACTION ISOLATION LEVEL after START, which must precede any query.
  const isolated = Boolean(
    (runner.connection.options as { isolationLevel?: string }).isolationLevel,
  );
  if (runner.isTransactionActive || isolated) {
    await runner.startTransaction();
    const claimed = sql ? ((await runner.query(sql)) as unknown[]).length === 1 : undefined;
    const [row] = (await runner.query(CURRENT_XID)) as { xid: string }[];
    return { claimed, xid: row?.xid };
  }
  const statements = ["START TRANSACTION", ...(sql ? [sql] : []), CURRENT_XID];
  const results = await joined(runner, "START TRANSACTION", statements.join("; "), () =>
    runner.startTransaction(),
  );
  return {
    claimed: sql ? results[1]?.rowCount === 1 : undefined,
    xid: (results.at(-1)?.rows[0] as { xid?: string } | undefined)?.xid,
  };
}

/**
 * Raises unless the session is still in the transaction `xid`: a migration whose SQL ran COMMIT
 * (or ROLLBACK, or BEGIN after them) left it, and what it did before is already permanent.
 */
function stillInTransaction(xid: string | undefined): string {
  if (!xid || !/^\d+$/.test(xid)) return "";
  return `DO $$ BEGIN IF pg_current_xact_id_if_assigned() IS DISTINCT FROM '${xid}'::xid8 THEN RAISE EXCEPTION 'the migration ended its transaction itself'; END IF; END $$; `;
}

/** Whether the migration's ledger row is committed as unfinished (after a rollback). */
async function leftUnfinished(runner: QueryRunner, name: string): Promise<boolean> {
  try {
    const rows = (await runner.query(
      `SELECT 1 FROM "${LEDGER_TABLE}" WHERE "name" = $1 AND "unfinished"`,
      [name],
    )) as unknown[];
    return rows.length > 0;
  } catch {
    return false; // the session is gone: what the next run finds in the ledger decides
  }
}

/**
 * Runs TypeORM's `step` (startTransaction, commitTransaction) with its `keyword` query replaced by
 * `text`, the keyword joined with a statement of ours: one simple-protocol query, one round trip,
 * on the runner's own pg client; TypeORM's transaction bookkeeping stays its own. The results of
 * `text`, one per statement.
 */
async function joined(
  runner: QueryRunner,
  keyword: "START TRANSACTION" | "COMMIT",
  text: string,
  step: () => Promise<void>,
): Promise<pg.QueryResult[]> {
  const client = (await runner.connect()) as pg.ClientBase;
  const original = runner.query as (...args: unknown[]) => Promise<unknown>;
  let results: pg.QueryResult[] = [];
  runner.query = (async (query: string, parameters?: unknown[], structured?: boolean) => {
    if (query !== keyword) return original.call(runner, query, parameters, structured);
    results = (await client.query(text)) as unknown as pg.QueryResult[];
    return [];
  }) as QueryRunner["query"];
  try {
    await step();
  } finally {
    runner.query = original as QueryRunner["query"];
  }
  return results;
}

/**
 * Commits; with a closing statement, in the same round trip as TypeORM's COMMIT (as begin does
 * with the claim): recording a migration costs no round trip of its own. If the statement fails,
 * the COMMIT after it in the same query is not run and the transaction is rolled back as usual.
 */
async function commit(
  runner: QueryRunner,
  closing: ClosingStatement | undefined,
  xid: string | undefined,
): Promise<void> {
  const guard = closing?.guards ? "" : stillInTransaction(xid);
  const sql = `${guard}${closing ? `${closing.sql(await literalOf(runner))}; ` : ""}`;
  const nested = (runner as unknown as { transactionDepth: number }).transactionDepth > 1;
  if (!sql) return runner.commitTransaction();
  if (nested) {
    // A dry run's savepoint: RELEASE is not COMMIT, so the statements go on their own.
    const result = (await runner.query(sql, undefined, true)) as { affected?: number };
    if (closing?.guards) recorded(result);
    return runner.commitTransaction();
  }
  const results = await joined(runner, "COMMIT", `${sql}COMMIT`, () => runner.commitTransaction());
  if (closing?.guards) recorded(results.at(-2));
}

/** The guarded bookkeeping recorded nothing: the migration's SQL ended its transaction. */
function recorded(result: { rowCount?: number | null; affected?: number } | undefined): void {
  const rows = result?.rowCount ?? result?.affected;
  if (rows === 0) throw new LeftItsTransaction("the migration ended its transaction itself");
}

class LeftItsTransaction extends Error {}

/** The session is in no transaction, or in another than `xid` (an aborted one counts as ours). */
async function leftTransaction(runner: QueryRunner, xid: string | undefined): Promise<boolean> {
  if (!xid) return false;
  try {
    const [row] = (await runner.query(CURRENT_XID_IF_ANY)) as { xid: string | null }[];
    return row?.xid !== xid;
  } catch {
    return false; // aborted (ours, as far as can be told) or the session is gone
  }
}

const CURRENT_XID_IF_ANY = "SELECT pg_current_xact_id_if_assigned()::text AS xid";

/**
 * Ends whatever transaction the migration's SQL left open and TypeORM's belief in ours (a failed
 * ROLLBACK TO SAVEPOINT would leave the session aborted, and the pooled connection with it).
 */
async function abandonTransaction(runner: QueryRunner): Promise<void> {
  const client = (await runner.connect()) as pg.ClientBase;
  await client.query("ROLLBACK").catch(() => undefined);
  const state = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
  state.isTransactionActive = false;
  state.transactionDepth = 0;
}

/** Records the migration as unfinished, committed at once: the next run refuses to repeat it. */
async function markUnfinished(runner: QueryRunner, name: string): Promise<void> {
  await runner
    .query(
      `INSERT INTO "${LEDGER_TABLE}" ("name", "applied_at", "unfinished") VALUES ($1, now(), true)
       ON CONFLICT ("name") DO UPDATE SET "unfinished" = true`,
      [name],
    )
    .catch(() => undefined); // the session is gone: the committed claim, if any, still says so
}

/** pg's literal escaping on the runner's own connection (its standard_conforming_strings). */
async function literalOf(runner: QueryRunner): Promise<(value: string) => string> {
  const client = (await runner.connect()) as pg.ClientBase;
  return (value) => client.escapeLiteral(value);
}

async function claimOutsideTransaction(
  runner: QueryRunner,
  claim: LiteralStatement,
): Promise<boolean> {
  const rows = (await runner.query(claim(await literalOf(runner)))) as unknown[];
  return rows.length === 1;
}

/** Another session applied (or reverted) it since this run looked: the lock was not held. */
function alreadyDone(name: string, state: "applied" | "reverted"): MigrateError {
  return new MigrateError(
    "lock",
    `${name} was ${state} by another session while this run held the migration lock: stopped before running it again (is something terminating or pooling migrator sessions?)`,
  );
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
  // The guide's data-migration template has only up(): say so, not "down is not a function".
  if (typeof (migration.instance as { down?: unknown }).down !== "function") {
    throw new MigrateError(
      "migrationFailed",
      `cannot revert ${migration.name}: it has no down(); write one (then accept the edit with --accept-changed ${migration.name})`,
    );
  }
  const table = migrationsTable(dataSource);
  await inTransaction(runner, migration, `reverting ${migration.name}`, async () => {
    // Defence in depth behind the lock: its rows go first, so a second reverter finds none.
    // Outside a transaction the claim is committed first and leaves the migration unfinished
    // until down() completes, as when applying.
    // In a transaction too: only a down() that ends the transaction itself leaves it committed.
    const claimed = await claimForRevert(runner, migration.name, table, true);
    if (!claimed) throw alreadyDone(migration.name, "reverted");
    await guarded(runner, migration, "down", options, () => migration.instance.down(runner));
    return {
      sql: (literal: (value: string) => string) => forgetSql(migration.name, literal),
      guards: false,
    };
  });
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
