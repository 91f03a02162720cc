import type { QueryRunner } from "typeorm";
import { pollUntil } from "../lib/poll.ts";
import { MigrateError } from "./errors.ts";

/**
 * One migrator at a time per database: a PostgreSQL session-level advisory lock, taken on the very
 * session that runs the migrations (as golang-migrate and Flyway do). Whatever ends that session
 * (idle_session_timeout, pg_terminate_backend, a restart, a crash) ends the lock and the work
 * together: no migration can go on running without the lock.
 */
export const MIGRATION_LOCK_KEY = 7_262_014_035; // arbitrary, fixed: "backupctl migrations"

/** How long a migrator waits for another one's lock unless told (--lock-timeout). */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export interface LockOptions {
  timeoutMs: number;
  /** Called once, when the lock is busy, with a description of who holds it. */
  onWaiting?: (holder: string) => void;
}

type Queryable = Pick<QueryRunner, "query">;

/**
 * Takes the migration lock on `runner`'s session, waiting up to `timeoutMs` for its holder.
 * Returns the session's backend pid (to cancel its statement when the run is interrupted).
 */
export async function acquireMigrationLock(
  runner: Queryable,
  options: LockOptions,
): Promise<number> {
  let holder: string | undefined;
  return pollUntil(
    async () => {
      const { locked, pid } = await tryLock(runner);
      if (locked) return pid;
      const first = holder === undefined;
      holder = await describeHolder(runner);
      if (first) options.onWaiting?.(holder);
      return undefined;
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 100,
      onTimeout: () => {
        throw new MigrateError(
          "lock",
          `another migrator holds the migration lock (${holder}); gave up after ${Math.round(options.timeoutMs / 1000)} s (--lock-timeout)`,
        );
      },
    },
  );
}

export async function releaseMigrationLock(runner: Queryable): Promise<void> {
  await runner.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
}

/**
 * Whether this session still holds the lock. False when the session is gone: the query fails.
 * Asked only after a failure, to tell a lost session from a migration's own error.
 */
export async function holdsMigrationLock(runner: Queryable): Promise<boolean> {
  try {
    const [row] = (await runner.query(
      `SELECT EXISTS (SELECT 1 FROM pg_locks
                       WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                         AND ((classid::bigint << 32) | objid::bigint) = $1) AS held`,
      [MIGRATION_LOCK_KEY],
    )) as { held: boolean }[];
    return Boolean(row?.held);
  } catch {
    return false;
  }
}

async function tryLock(runner: Queryable): Promise<{ locked: boolean; pid: number }> {
  const [row] = (await runner.query(
    "SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid",
    [MIGRATION_LOCK_KEY],
  )) as { locked: boolean; pid: number }[];
  return { locked: Boolean(row?.locked), pid: Number(row?.pid) };
}

/**
 * Who holds the lock on this database, from pg_stat_activity. A role without pg_read_all_stats
 * sees only the pid and role of another role's session (the other columns are NULL): say so
 * rather than print NULL as 1970.
 */
async function describeHolder(runner: Queryable): Promise<string> {
  const rows = (await runner.query(
    `SELECT a.pid, a.usename, a.application_name, a.client_addr, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
    [MIGRATION_LOCK_KEY],
  )) as {
    pid: number;
    usename: string | null;
    application_name: string | null;
    client_addr: string | null;
    backend_start: Date | null;
  }[];
  const [row] = rows;
  if (!row) return "a session that has just released it";
  const role = row.usename ? ` (role ${row.usename})` : "";
  if (row.backend_start === null) {
    return `pid ${row.pid}${role}; its details are visible only to that role or with pg_read_all_stats`;
  }
  const who = row.application_name || "unknown client";
  return `${who}, pid ${row.pid}${role}${row.client_addr ? ` from ${row.client_addr}` : ""}, connected since ${new Date(row.backend_start).toISOString()}`;
}
