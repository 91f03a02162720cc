import { describe, expect, test } from "bun:test";
import {
  applyResult,
  BACKUP_STAGES,
  BACKUP_STATUSES,
  type BackupRun,
  isBackupStage,
  isBackupStatus,
  isUnknownValue,
  parseStage,
  parseStatus,
  rawValue,
} from "../../src/domain/audit/backup-run.ts";

const startedRun: BackupRun = {
  id: "0b7c9a52-3f1e-4d2a-8c6b-5e4f3a2b1c0d",
  projectName: "shop",
  status: "started",
  currentStage: "sync",
  startedAt: new Date("2025-03-01T02:00:00.000Z"),
  completedAt: null,
  dumpSizeBytes: null,
  encrypted: false,
  verified: false,
  backupType: "database",
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
  createdAt: new Date("2025-03-01T02:00:00.010Z"),
};

describe("statuses and stages", () => {
  test("guards accept exactly the listed values", () => {
    for (const status of BACKUP_STATUSES) expect(isBackupStatus(status)).toBe(true);
    for (const stage of BACKUP_STAGES) expect(isBackupStage(stage)).toBe(true);
    expect(isBackupStatus("cancelled")).toBe(false);
    expect(isBackupStatus("dump")).toBe(false);
    expect(isBackupStage("started")).toBe(false);
    expect(isBackupStage("")).toBe(false);
  });

  test("parsing keeps unknown strings verbatim, and rawValue gives them back", () => {
    expect(parseStatus("failed")).toBe("failed");
    expect(parseStatus("Failed")).toEqual({ unknown: "Failed" });
    expect(parseStage("encrypt")).toBe("encrypt");
    expect(parseStage("upload")).toEqual({ unknown: "upload" });

    for (const raw of ["success", "cancelled", "dump", "upload", ""]) {
      expect(rawValue(parseStatus(raw))).toBe(raw);
      expect(rawValue(parseStage(raw))).toBe(raw);
    }
    expect(isUnknownValue(parseStatus("cancelled"))).toBe(true);
    expect(isUnknownValue(parseStatus("success"))).toBe(false);
  });
});

describe("applyResult", () => {
  test("sets the outcome and the duration from start to completion", () => {
    const completedAt = new Date("2025-03-01T02:04:30.250Z");
    const finished = applyResult(
      startedRun,
      { status: "success", dumpSizeBytes: 2 ** 33, encrypted: true, filesNew: 4 },
      completedAt,
    );
    expect(finished).toEqual({
      ...startedRun,
      status: "success",
      completedAt,
      durationMs: 270_250,
      dumpSizeBytes: 2 ** 33,
      encrypted: true,
      filesNew: 4,
    });
  });

  test("a field left out keeps its value, an explicit null clears it", () => {
    const run = { ...startedRun, snapshotId: "abc123", retryCount: 2 };
    const finished = applyResult(
      run,
      { status: "failed", snapshotId: null, errorStage: "sync", errorMessage: "timeout" },
      run.startedAt,
    );
    expect(finished.snapshotId).toBeNull();
    expect(finished.retryCount).toBe(2);
    expect(finished.errorStage).toBe("sync");
    expect(finished.durationMs).toBe(0);
  });

  test("refuses a completion before the start", () => {
    expect(() =>
      applyResult(startedRun, { status: "success" }, new Date("2025-03-01T01:59:59.999Z")),
    ).toThrow(RangeError);
  });

  test("does not modify the run it is given", () => {
    const copy = structuredClone(startedRun);
    applyResult(startedRun, { status: "failed", errorStage: "dump" }, new Date());
    expect(startedRun).toEqual(copy);
  });
});
