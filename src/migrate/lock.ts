import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";

/**
 * One migrator at a time per database: a PostgreSQL session-level advisory lock, held on its own
 * connection for the whole run or revert. A crashed holder's lock goes with its connection.
 */
export const MIGRATION_LOCK_KEY = 7_262_014_035; // arbitrary, fixed: "backupctl migrations"

export interface LockOptions {
  timeoutMs: number;
  /** Called once, when the lock is busy, with a description of who holds it. */
  onWaiting?: (holder: string) => void;
}

export async function withMigrationLock<T>(
  dataSource: DataSource,
  options: LockOptions,
  work: () => Promise<T>,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const deadline = Date.now() + options.timeoutMs;
    let holder: string | undefined;
    while (!(await tryLock(runner))) {
      const first = holder === undefined;
      holder = await describeHolder(runner);
      if (first) options.onWaiting?.(holder);
      if (Date.now() >= deadline) {
        throw new MigrateError(
          "lock",
          `another migrator holds the migration lock (${holder}); gave up after ${Math.round(options.timeoutMs / 1000)} s (--lock-timeout)`,
        );
      }
      await Bun.sleep(100);
    }
    try {
      return await work();
    } finally {
      await runner
        .query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

async function tryLock(runner: {
  query(sql: string, params?: unknown[]): Promise<{ locked: boolean }[]>;
}): Promise<boolean> {
  const [row] = await runner.query("SELECT pg_try_advisory_lock($1) AS locked", [
    MIGRATION_LOCK_KEY,
  ]);
  return Boolean(row?.locked);
}

/** Who holds the lock, from pg_stat_activity: application name, client, pid, since when. */
async function describeHolder(runner: {
  query(sql: string, params?: unknown[]): Promise<unknown[]>;
}): Promise<string> {
  const rows = (await runner.query(
    `SELECT a.pid, a.application_name, a.client_addr, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
    [MIGRATION_LOCK_KEY],
  )) as {
    pid: number;
    application_name: string;
    client_addr: string | null;
    backend_start: Date;
  }[];
  const [row] = rows;
  if (!row) return "a session that has just released it";
  const who = row.application_name || "unknown client";
  return `${who}, pid ${row.pid}${row.client_addr ? ` from ${row.client_addr}` : ""}, connected since ${new Date(row.backend_start).toISOString()}`;
}
