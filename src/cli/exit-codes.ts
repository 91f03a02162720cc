/**
 * Every exit code of every CLI of the toolkit, in one registry (README, "Exit codes"). A code
 * means the same thing wherever it is used, and each range belongs to one program: the toolkit
 * (dev CLI and migrator, shared by all) 0-19 and 128 + signal, the backupctl app 20-29, `./manage`
 * 30-39. A new failure is one line here and one row in the README table of its CLI (a test checks
 * both).
 */
export const EXIT_CODE_RANGES = {
  toolkit: { from: 0, to: 19, signals: [130, 143] },
  app: { from: 20, to: 29, signals: [] },
  manage: { from: 30, to: 39, signals: [] },
} as const;

/** The toolkit's codes: shared by every CLI (a usage error is 2 everywhere). */
export const TOOLKIT_EXIT_CODES = {
  ok: 0,
  /** Anything unexpected: a bug, or an error this table does not know yet. */
  internal: 1,
  /** Bad arguments or names, bad configuration. Nothing was touched. */
  usage: 2,
  /** The database could not be reached, or refused the credentials. */
  connect: 3,
  /** A migration threw; its transaction was rolled back. */
  migrationFailed: 4,
  /** Migrations are pending (`show --exit-code`), or `generate` refused to diff against a stale database. */
  pending: 5,
  /** `generate --check`: the record and the database differ. */
  schemaDrift: 6,
  /** Nothing to do where something was asked: no schema changes to generate, nothing to revert. */
  nothingToDo: 7,
  /** The dev database server could not be started, stopped or reached as a process. */
  devServer: 8,
  /** Another migrator held the migration lock for longer than --lock-timeout. */
  lock: 9,
  /** An applied migration's source changed since it was applied (and was not accepted). */
  checksum: 10,
  /** `migrate:lint` (or check) found a destructive or lock-heavy statement without a reviewed exception. */
  lint: 11,
  /** `migrate:verify` (or check): a migration's down() does not restore the schema its up() changed. */
  irreversible: 12,
  /** `migrate:check`: src/db/migrations.ts does not list exactly the files in migrations/. */
  registryStale: 13,
  /** A migration would lose data (drop a table or column that holds rows …) and was not reviewed. */
  dataLoss: 14,
  /**
   * `migrate:generate` refused: the record differs in a way it cannot write safely (an unknown kind
   * of difference, a NOT NULL column without a default, a draft that does not reach the record).
   */
  generateRefused: 15,
  /** SIGINT (Ctrl-C) stopped a run or revert; the migration it was in was rolled back. 128 + 2. */
  interrupted: 130,
  /** SIGTERM, or the parent process died: as `interrupted`. 128 + 15. */
  terminated: 143,
} as const;

/** `backupctl`'s own codes (src/app). */
const APP_ONLY = {
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

/** `./manage`'s own codes (scripts/manage). */
const MANAGE_ONLY = {
  /** `check` or the preflight of deploy/upgrade found problems (each one is listed). */
  preflight: 30,
  /** A service did not become healthy in time (deploy), or nothing was left to roll back to. */
  unhealthy: 31,
  /** upgrade: the new app failed its health check; the previous images run again, healthy. */
  rolledBack: 32,
  /** upgrade/rollback: the previous images did not come back healthy either. Act now. */
  rollbackFailed: 33,
  /** backup-db, or the backup step of deploy/upgrade/restore-db: pg_dump failed or wrote no full dump. */
  dumpFailed: 34,
  /** upgrade: uncommitted changes, not the top of its own git checkout, or no fast-forward pull. */
  gitRefused: 35,
  /** A docker command (build, up, image tag) failed. */
  dockerFailed: 36,
  /** restore-db: the file is not a complete dump, or psql failed (the database is unchanged). */
  restoreFailed: 37,
} as const;

/** The registry: every failure kind and its code. */
export const EXIT_CODES = { ...TOOLKIT_EXIT_CODES, ...APP_ONLY, ...MANAGE_ONLY } as const;

export type FailureKind = Exclude<keyof typeof EXIT_CODES, "ok">;

/** What `backupctl` can exit with: the shared codes it uses, and its own. */
export const APP_EXIT_CODES = {
  ok: EXIT_CODES.ok,
  internal: EXIT_CODES.internal,
  /** Bad arguments, unknown project, invalid config file or environment. Nothing ran. */
  usage: EXIT_CODES.usage,
  /** `status`, `logs`, `health`: the audit database cannot be reached. */
  connect: EXIT_CODES.connect,
  /** `health`: migrations are pending (the database is older than this build). */
  pending: EXIT_CODES.pending,
  ...APP_ONLY,
} as const;

/**
 * What `./manage` can exit with: the shared codes it uses (3 here: the Docker engine does not
 * answer; 4: the migrator failed), and its own. `migrate …` passes the migrator's code through.
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
  ...MANAGE_ONLY,
} as const;

export type AppFailure = Exclude<keyof typeof APP_EXIT_CODES, "ok">;
export type ManageFailure = Exclude<keyof typeof MANAGE_EXIT_CODES, "ok">;
export type ToolkitFailure = Exclude<keyof typeof TOOLKIT_EXIT_CODES, "ok">;

/** The signals a run stops for, and the failure each becomes. */
export const STOP_SIGNALS = { SIGINT: "interrupted", SIGTERM: "terminated" } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;
