import type { BackupRun, BackupStage, RunResult } from "./backup-run.ts";

export interface StartRunInput {
  projectName: string;
  backupType?: string | null;
  /** Defaults to now. */
  startedAt?: Date;
  /** Defaults to a fresh `crypto.randomUUID()`. */
  id?: string;
}

export interface ListOptions {
  /** At most this many runs (a non-negative integer); all of them when left out. */
  limit?: number;
}

export interface FindFailedOptions extends ListOptions {
  projectName?: string;
}

export interface FindSinceOptions {
  projectName?: string;
}

/** The audit log as the backup flow uses it: record runs as they progress, then query them. */
export interface AuditLogPort {
  /** Records a new run with status `started`. */
  startRun(input: StartRunInput): Promise<BackupRun>;
  /** Records the stage a run has reached. Throws AuditLogError `RUN_NOT_FOUND`. */
  trackProgress(id: string, stage: BackupStage): Promise<void>;
  /**
   * Records the outcome of a `started` run; `durationMs` is the time from its start to
   * `completedAt` (default now). Throws AuditLogError `RUN_NOT_FOUND` or `RUN_ALREADY_FINISHED`;
   * when two callers finish the same run, exactly one succeeds.
   */
  finishRun(id: string, result: RunResult): Promise<BackupRun>;
  /** A project's runs, newest first. */
  findByProject(projectName: string, options?: ListOptions): Promise<BackupRun[]>;
  /** Failed runs, newest first. */
  findFailed(options?: FindFailedOptions): Promise<BackupRun[]>;
  /** Runs started at or after `since`, oldest first. */
  findSince(since: Date, options?: FindSinceOptions): Promise<BackupRun[]>;
  /**
   * Runs still `started` that started before `olderThan`, oldest first: what a crashed backup
   * left behind.
   */
  findOrphaned(olderThan: Date): Promise<BackupRun[]>;
}

export type AuditLogErrorCode = "RUN_NOT_FOUND" | "RUN_ALREADY_FINISHED";

export class AuditLogError extends Error {
  override name = "AuditLogError";
  constructor(
    readonly code: AuditLogErrorCode,
    readonly runId: string,
    message: string,
  ) {
    super(message);
  }

  static runNotFound(runId: string): AuditLogError {
    return new AuditLogError("RUN_NOT_FOUND", runId, `backup run ${runId} does not exist`);
  }

  static alreadyFinished(runId: string, status: string): AuditLogError {
    return new AuditLogError(
      "RUN_ALREADY_FINISHED",
      runId,
      `backup run ${runId} cannot be finished: its status is "${status}", not "started"`,
    );
  }
}
