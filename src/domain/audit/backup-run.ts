/**
 * The audit domain: one backup run as the rest of backupctl sees it, independent of how the
 * `backup_log` table stores it.
 */

export const BACKUP_STATUSES = ["started", "success", "failed"] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

/** Stages in the order a run goes through them. */
export const BACKUP_STAGES = [
  "notify_started",
  "pre_hook",
  "dump",
  "verify",
  "encrypt",
  "sync",
  "prune",
  "cleanup",
  "post_hook",
  "audit",
  "notify_result",
] as const;
export type BackupStage = (typeof BACKUP_STAGES)[number];

/**
 * A status or stage read from the database that this version does not know, e.g. written by a
 * newer backupctl. Kept verbatim so it can be shown and written back unchanged instead of failing
 * the whole read or being replaced by a guess.
 */
export interface UnknownValue {
  readonly unknown: string;
}

export type RunStatus = BackupStatus | UnknownValue;
export type RunStage = BackupStage | UnknownValue;

export interface BackupRun {
  id: string;
  projectName: string;
  status: RunStatus;
  /** The stage the run is in (or was in when it finished); null before the first stage. */
  currentStage: RunStage | null;
  startedAt: Date;
  completedAt: Date | null;
  dumpSizeBytes: number | null;
  encrypted: boolean;
  verified: boolean;
  backupType: string | null;
  snapshotId: string | null;
  snapshotMode: string | null;
  filesNew: number | null;
  filesChanged: number | null;
  bytesAdded: number | null;
  pruneSnapshotsRemoved: number | null;
  localFilesCleaned: number | null;
  errorStage: RunStage | null;
  errorMessage: string | null;
  retryCount: number;
  durationMs: number | null;
  createdAt: Date;
}

/** What a finished run reports. Fields left out keep the value the run already has. */
export interface RunResult {
  status: Exclude<BackupStatus, "started">;
  completedAt?: Date;
  dumpSizeBytes?: number | null;
  encrypted?: boolean;
  verified?: boolean;
  snapshotId?: string | null;
  snapshotMode?: string | null;
  filesNew?: number | null;
  filesChanged?: number | null;
  bytesAdded?: number | null;
  pruneSnapshotsRemoved?: number | null;
  localFilesCleaned?: number | null;
  errorStage?: BackupStage | null;
  errorMessage?: string | null;
  retryCount?: number;
}

export function isBackupStatus(value: string): value is BackupStatus {
  return (BACKUP_STATUSES as readonly string[]).includes(value);
}

export function isBackupStage(value: string): value is BackupStage {
  return (BACKUP_STAGES as readonly string[]).includes(value);
}

export function isUnknownValue(value: RunStatus | RunStage): value is UnknownValue {
  return typeof value === "object";
}

export function parseStatus(raw: string): RunStatus {
  return isBackupStatus(raw) ? raw : { unknown: raw };
}

export function parseStage(raw: string): RunStage {
  return isBackupStage(raw) ? raw : { unknown: raw };
}

/** The string stored in the database for a status or stage, known or not. */
export function rawValue(value: RunStatus | RunStage): string {
  return isUnknownValue(value) ? value.unknown : value;
}

/** A result field left out (undefined) keeps the run's value; an explicit null clears it. */
function reported<T>(value: T | undefined, current: T): T {
  return value === undefined ? current : value;
}

/**
 * The run as it is once `result` is recorded at `completedAt`. Pure: whether the run may still be
 * finished is the caller's decision, since only the store can answer it atomically.
 */
export function applyResult(run: BackupRun, result: RunResult, completedAt: Date): BackupRun {
  const durationMs = completedAt.getTime() - run.startedAt.getTime();
  if (durationMs < 0) {
    throw new RangeError(
      `run ${run.id} cannot complete at ${completedAt.toISOString()}, before it started at ${run.startedAt.toISOString()}`,
    );
  }
  return {
    ...run,
    status: result.status,
    completedAt,
    durationMs,
    dumpSizeBytes: reported(result.dumpSizeBytes, run.dumpSizeBytes),
    encrypted: reported(result.encrypted, run.encrypted),
    verified: reported(result.verified, run.verified),
    snapshotId: reported(result.snapshotId, run.snapshotId),
    snapshotMode: reported(result.snapshotMode, run.snapshotMode),
    filesNew: reported(result.filesNew, run.filesNew),
    filesChanged: reported(result.filesChanged, run.filesChanged),
    bytesAdded: reported(result.bytesAdded, run.bytesAdded),
    pruneSnapshotsRemoved: reported(result.pruneSnapshotsRemoved, run.pruneSnapshotsRemoved),
    localFilesCleaned: reported(result.localFilesCleaned, run.localFilesCleaned),
    errorStage: reported(result.errorStage, run.errorStage),
    errorMessage: reported(result.errorMessage, run.errorMessage),
    retryCount: reported(result.retryCount, run.retryCount),
  };
}
