import { BackupLogRecord } from "./backup-log.record.ts";
import { type BackupRun, parseStage, parseStatus, rawValue } from "./backup-run.ts";

/**
 * bigint column (a string from pg) to number. Values beyond 2^53 - 1 would be rounded, so they
 * are refused rather than silently changed.
 */
function bigintToNumber(value: string | null, column: string): number | null {
  if (value === null) return null;
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new RangeError(
      `backup_log.${column} = ${value} is outside ±Number.MAX_SAFE_INTEGER: reading it as a number would lose precision`,
    );
  }
  return number;
}

function numberToBigint(value: number | null, column: string): string | null {
  if (value === null) return null;
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`backup_log.${column} must be a safe integer, got ${value}`);
  }
  return String(value);
}

export function toDomain(record: BackupLogRecord): BackupRun {
  return {
    id: record.id,
    projectName: record.projectName,
    status: parseStatus(record.status),
    currentStage: record.currentStage === null ? null : parseStage(record.currentStage),
    startedAt: record.startedAt,
    completedAt: record.completedAt,
    dumpSizeBytes: bigintToNumber(record.dumpSizeBytes, "dump_size_bytes"),
    encrypted: record.encrypted,
    verified: record.verified,
    backupType: record.backupType,
    snapshotId: record.snapshotId,
    snapshotMode: record.snapshotMode,
    filesNew: record.filesNew,
    filesChanged: record.filesChanged,
    bytesAdded: bigintToNumber(record.bytesAdded, "bytes_added"),
    pruneSnapshotsRemoved: record.pruneSnapshotsRemoved,
    localFilesCleaned: record.localFilesCleaned,
    errorStage: record.errorStage === null ? null : parseStage(record.errorStage),
    errorMessage: record.errorMessage,
    retryCount: record.retryCount,
    durationMs: bigintToNumber(record.durationMs, "duration_ms"),
    createdAt: record.createdAt,
  };
}

export function toRecord(run: BackupRun): BackupLogRecord {
  // `satisfies` makes the compiler list any record column this mapping forgets.
  return Object.assign(new BackupLogRecord(), {
    id: run.id,
    projectName: run.projectName,
    status: rawValue(run.status),
    currentStage: run.currentStage === null ? null : rawValue(run.currentStage),
    startedAt: run.startedAt,
    completedAt: run.completedAt,
    dumpSizeBytes: numberToBigint(run.dumpSizeBytes, "dump_size_bytes"),
    encrypted: run.encrypted,
    verified: run.verified,
    backupType: run.backupType,
    snapshotId: run.snapshotId,
    snapshotMode: run.snapshotMode,
    filesNew: run.filesNew,
    filesChanged: run.filesChanged,
    bytesAdded: numberToBigint(run.bytesAdded, "bytes_added"),
    pruneSnapshotsRemoved: run.pruneSnapshotsRemoved,
    localFilesCleaned: run.localFilesCleaned,
    errorStage: run.errorStage === null ? null : rawValue(run.errorStage),
    errorMessage: run.errorMessage,
    retryCount: run.retryCount,
    durationMs: numberToBigint(run.durationMs, "duration_ms"),
    createdAt: run.createdAt,
  } satisfies BackupLogRecord);
}
