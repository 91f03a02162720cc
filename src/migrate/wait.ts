import type { DataSource, DataSourceOptions } from "typeorm";
import { pollUntil } from "../lib/poll.ts";
import { NETWORK_CODES, openDataSource } from "./connect.ts";
import { MigrateError } from "./errors.ts";

/** Failures that a database still starting up produces; anything else will not pass by waiting. */
const TRANSIENT = new Set([
  ...NETWORK_CODES,
  "57P03", // the database system is starting up
]);

export interface DatabaseWait {
  timeoutMs: number;
  /** Pause between attempts. */
  intervalMs?: number;
  /** Called every `reportEveryMs` while waiting, with the seconds waited and the last failure. */
  onWaiting?: (waitedSeconds: number, reason: string) => void;
  reportEveryMs?: number;
}

/**
 * Connects, retrying while the server is not up yet (in Compose or Kubernetes the database often
 * starts after the migrator). Wrong credentials fail at once; a server still down at the deadline
 * is a `connect` error.
 */
export function waitForDatabase(
  options: DataSourceOptions,
  wait: DatabaseWait,
): Promise<DataSource> {
  return waitForConnection(() => openDataSource(options), wait);
}

/** The same for any way of connecting whose failures are `connect` MigrateErrors (openClient). */
export async function waitForConnection<T>(open: () => Promise<T>, wait: DatabaseWait): Promise<T> {
  const reportEvery = wait.reportEveryMs ?? 5000;
  let reported = 0;
  let last: { error: Error; cause: unknown } | undefined;
  return pollUntil(
    async (waited) => {
      try {
        return await open();
      } catch (error) {
        const cause = (error as MigrateError).cause ?? error;
        if (!isTransient(cause)) throw error;
        last = { error: error as Error, cause };
        if (waited - reported >= reportEvery) {
          reported = waited;
          wait.onWaiting?.(Math.round(waited / 1000), (error as Error).message);
        }
        return undefined;
      }
    },
    {
      timeoutMs: wait.timeoutMs,
      intervalMs: wait.intervalMs ?? 500,
      onTimeout: (waited) => {
        throw new MigrateError(
          "connect",
          `${last?.error.message} (still failing after waiting ${Math.round(waited / 1000)} s)`,
          { cause: last?.cause },
        );
      },
    },
  );
}

function isTransient(error: unknown): boolean {
  const { code, errors } = error as { code?: string; errors?: unknown[] };
  if (code && TRANSIENT.has(code)) return true;
  if (Array.isArray(errors)) return errors.some(isTransient);
  return /timeout|terminated unexpectedly/i.test((error as Error)?.message ?? "");
}
