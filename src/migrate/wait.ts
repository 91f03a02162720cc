import type { DataSource, DataSourceOptions } from "typeorm";
import { asConnectError, openDataSource } from "./connect.ts";
import { MigrateError } from "./errors.ts";

/** Failures that a database still starting up produces; anything else will not pass by waiting. */
const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "57P03", // the database system is starting up
]);

export interface WaitOptions {
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
export async function waitForDatabase(
  options: DataSourceOptions,
  wait: WaitOptions,
): Promise<DataSource> {
  const started = Date.now();
  const interval = wait.intervalMs ?? 500;
  const reportEvery = wait.reportEveryMs ?? 5000;
  let lastReport = started;
  for (;;) {
    try {
      return await openDataSource(options);
    } catch (error) {
      const cause = (error as MigrateError).cause ?? error;
      if (!isTransient(cause)) throw error;
      const waited = Date.now() - started;
      if (waited + interval > wait.timeoutMs) {
        throw new MigrateError(
          "connect",
          `${(error as Error).message} (still failing after waiting ${Math.round(waited / 1000)} s)`,
          { cause },
        );
      }
      if (Date.now() - lastReport >= reportEvery) {
        lastReport = Date.now();
        wait.onWaiting?.(Math.round(waited / 1000), asConnectError(cause, options).message);
      }
      await Bun.sleep(interval);
    }
  }
}

function isTransient(error: unknown): boolean {
  const { code, errors } = error as { code?: string; errors?: unknown[] };
  if (code && TRANSIENT.has(code)) return true;
  if (Array.isArray(errors)) return errors.some(isTransient);
  return /timeout|terminated unexpectedly/i.test((error as Error)?.message ?? "");
}
