import { EXIT_CODES, MigrateError } from "../migrate/errors.ts";

/**
 * Exit codes of `backupctl`. The shared ones keep the meaning they have for the migrator (README,
 * "Exit codes"); the backup-specific ones start at 20, clear of the migrator's range.
 */
export const APP_EXIT_CODES = {
  ok: EXIT_CODES.ok,
  /** Anything unexpected: a bug. */
  internal: EXIT_CODES.internal,
  /** Bad arguments, unknown project, invalid config file or environment. Nothing ran. */
  usage: EXIT_CODES.usage,
  /** `status`, `logs`, `health`: the audit database cannot be reached. */
  connect: EXIT_CODES.connect,
  /** `health`: migrations are pending (the database is older than this build). */
  pending: EXIT_CODES.pending,
  /** `run`: a backup ran and failed (its run is recorded with the stage and the reason). */
  backupFailed: 20,
  /** `run`: the project is being backed up by another live process; nothing was started. */
  alreadyRunning: 21,
  /** `serve`: cannot listen: the port is in use, or the address is not one of this machine. */
  cannotListen: 22,
  /**
   * `run`: a backup ran but nothing could record it (audit log unavailable, fallback file not
   * writable); the run is printed on stderr as JSON instead.
   */
  notRecorded: 23,
} as const;

export type AppFailure = Exclude<keyof typeof APP_EXIT_CODES, "ok">;

/**
 * A failure with a backupctl exit code. It extends MigrateError so the shared CLI runner prints
 * it as one `error: …` line and exits with its code.
 */
export class AppError extends MigrateError {
  override name = "AppError";
  constructor(
    readonly failure: AppFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("internal", message, options);
  }

  override get exitCode(): number {
    return APP_EXIT_CODES[this.failure];
  }
}
