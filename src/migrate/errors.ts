/**
 * Every way a migration command can fail, each with its own process exit code. The engine throws
 * MigrateError; the CLIs turn it into one printed line and `process.exit(exitCode)`.
 */
export const EXIT_CODES = {
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

/** The signals a run stops for, and the failure each becomes. */
export const STOP_SIGNALS = { SIGINT: "interrupted", SIGTERM: "terminated" } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

export type FailureKind = Exclude<keyof typeof EXIT_CODES, "ok">;

/** A migration applied or reverted before a command failed. */
export interface DoneStep {
  name: string;
  durationMs?: number;
}

export class MigrateError extends Error {
  override name = "MigrateError";
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: { cause?: unknown; done?: readonly DoneStep[] },
  ) {
    super(message, options);
    this.done = options?.done ?? [];
  }

  /** What the failed command had completed (applied or reverted) before it failed: that stays. */
  readonly done: readonly DoneStep[];

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}
