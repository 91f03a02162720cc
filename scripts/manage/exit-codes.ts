import { EXIT_CODES, MigrateError } from "../../src/migrate/errors.ts";

/**
 * Exit codes of `./manage`. The shared ones keep the meaning they have everywhere in the toolkit
 * (README, "Exit codes"): 2 usage or configuration, 3 cannot connect (here: the Docker engine does
 * not answer), 4 the migrator failed. `migrate …` passes the migrator's own code through (5 for
 * `show --exit-code` with pending migrations). The manage-specific ones start at 30, clear of the
 * migrator's (up to 13) and the app's (20 to 22).
 */
export const MANAGE_EXIT_CODES = {
  ok: EXIT_CODES.ok,
  internal: EXIT_CODES.internal,
  /** Unknown command or option, missing .env or compose file, restore-db not confirmed. */
  usage: EXIT_CODES.usage,
  /** The Docker engine (or `docker` itself) does not answer. */
  connect: EXIT_CODES.connect,
  /** The migrator exited non-zero: deploy did not start the app, upgrade left it untouched. */
  migrationFailed: EXIT_CODES.migrationFailed,
  /** `check` or the preflight of deploy/upgrade found problems (each one is listed). */
  preflight: 30,
  /** A service did not become healthy in time (deploy), or nothing was left to roll back to. */
  unhealthy: 31,
  /** upgrade: the new app failed its health check; the previous images run again, healthy. */
  rolledBack: 32,
  /** upgrade/rollback: the previous images did not come back healthy either. Act now. */
  rollbackFailed: 33,
  /** backup-db, or the backup step of deploy/upgrade/restore-db: pg_dump failed or wrote no full dump. */
  backupFailed: 34,
  /** upgrade: uncommitted changes, not the top of its own git checkout, or no fast-forward pull. */
  gitRefused: 35,
  /** A docker command (build, up, image tag) failed. */
  dockerFailed: 36,
  /** restore-db: the file is not a complete dump, or psql failed (the database is unchanged). */
  restoreFailed: 37,
} as const;

export type ManageFailure = Exclude<keyof typeof MANAGE_EXIT_CODES, "ok">;

/**
 * A failure with a manage exit code. It extends MigrateError so the shared CLI runner prints it
 * as one `error: …` line and exits with its code.
 */
export class ManageError extends MigrateError {
  override name = "ManageError";
  constructor(
    readonly failure: ManageFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("internal", message, options);
  }

  override get exitCode(): number {
    return MANAGE_EXIT_CODES[this.failure];
  }
}
