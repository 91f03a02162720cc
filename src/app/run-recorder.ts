import { randomUUID } from "node:crypto";
import type { AuditLogPort } from "../domain/audit/audit-log.port.ts";
import {
  applyResult,
  type BackupRun,
  type BackupStage,
  type RunResult,
} from "../domain/audit/backup-run.ts";
import { isAuditUnavailable } from "./audit-database.ts";

export type Clock = () => Date;

/** Where a finished run ended up. */
export type RecordedIn = "database" | "fallback";

export interface FallbackSink {
  /** Where the runs go, for messages. */
  readonly path: string;
  append(run: BackupRun): Promise<void>;
}

/**
 * Neither the audit log nor the fallback file could record a finished run (the database is
 * away and the disk is full or read-only). It carries the run, so the caller can still show it.
 */
export class RunNotRecordedError extends Error {
  override name = "RunNotRecordedError";
  constructor(
    readonly run: BackupRun,
    readonly auditUnavailable: string | null,
    readonly fallbackPath: string,
    cause: unknown,
  ) {
    super(
      `run ${run.id} of ${run.projectName} could not be recorded: the audit log is unavailable (${auditUnavailable}) and ${fallbackPath} cannot be written (${(cause as Error).message})`,
      { cause },
    );
  }
}

/**
 * Records one run through the audit port, and keeps recording it without the database: the
 * backup must not depend on the audit log being up. It mirrors the run locally; from the first
 * connection error (or missing-schema error) on, it stops calling the database for this run and,
 * at the end, appends the finished run to the fallback file (replayed on a later start).
 */
export class RunRecorder {
  private run: BackupRun | undefined;
  /** The error that made this run go offline, if one did. */
  offlineBecause: string | null = null;

  constructor(
    private readonly audit: AuditLogPort,
    private readonly fallback: FallbackSink,
    private readonly clock: Clock,
  ) {}

  get current(): BackupRun {
    if (!this.run) throw new Error("RunRecorder: start() was not called");
    return this.run;
  }

  async start(projectName: string): Promise<BackupRun> {
    // Our own id and start time: the same run whether the database or the fallback records it.
    const id = randomUUID();
    const startedAt = this.clock();
    this.run = await this.online(
      () => this.audit.startRun({ id, projectName, startedAt }),
      () => localRun(id, projectName, startedAt),
    );
    return this.run;
  }

  async stage(stage: BackupStage): Promise<void> {
    this.run = { ...this.current, currentStage: stage };
    await this.online(
      () => this.audit.trackProgress(this.current.id, stage),
      () => undefined,
    );
  }

  async finish(
    result: Omit<RunResult, "completedAt">,
  ): Promise<{ run: BackupRun; recordedIn: RecordedIn }> {
    const completed = { ...result, completedAt: this.clock() };
    const { id } = this.current;
    const finished = await this.online(
      () => this.audit.finishRun(id, completed),
      () => null,
    );
    if (finished) return { run: finished, recordedIn: "database" };
    const run = applyResult(this.current, completed, completed.completedAt);
    try {
      await this.fallback.append(run);
    } catch (error) {
      throw new RunNotRecordedError(run, this.offlineBecause, this.fallback.path, error);
    }
    return { run, recordedIn: "fallback" };
  }

  /** Runs a port call while online; when the audit log is unavailable (now or before), `offline`. */
  private async online<T>(call: () => Promise<T>, offline: () => T): Promise<T> {
    if (this.offlineBecause !== null) return offline();
    try {
      return await call();
    } catch (error) {
      if (!isAuditUnavailable(error)) throw error;
      this.offlineBecause = (error as Error).message;
      return offline();
    }
  }
}

/** A run as startRun would have stored it, for when the database cannot. */
function localRun(id: string, projectName: string, startedAt: Date): BackupRun {
  return {
    id,
    projectName,
    status: "started",
    currentStage: null,
    startedAt,
    completedAt: null,
    dumpSizeBytes: null,
    encrypted: false,
    verified: false,
    backupType: null,
    snapshotId: null,
    snapshotMode: null,
    filesNew: null,
    filesChanged: null,
    bytesAdded: null,
    pruneSnapshotsRemoved: null,
    localFilesCleaned: null,
    errorStage: null,
    errorMessage: null,
    retryCount: 0,
    durationMs: null,
    createdAt: startedAt,
  };
}
