import { describe, expect, test } from "bun:test";
import { getMetadataArgsStorage } from "typeorm";
import { toDomain, toRecord } from "../../src/domain/audit/backup-log.mapper.ts";
import { BackupLogRecord } from "../../src/domain/audit/backup-log.record.ts";
import type { BackupRun } from "../../src/domain/audit/backup-run.ts";

function record(fields: Partial<BackupLogRecord> = {}): BackupLogRecord {
  return Object.assign(new BackupLogRecord(), {
    id: "6f1c2d1e-8a4b-4c3d-9e5f-0a1b2c3d4e5f",
    projectName: "shop",
    status: "success",
    currentStage: "notify_result",
    startedAt: new Date("2025-03-01T02:00:00.000Z"),
    completedAt: new Date("2025-03-01T02:05:00.000Z"),
    dumpSizeBytes: "5368709120",
    encrypted: true,
    verified: true,
    backupType: "database",
    snapshotId: "a1b2c3d4",
    snapshotMode: "combined",
    filesNew: 12,
    filesChanged: 3,
    bytesAdded: "4294967296",
    pruneSnapshotsRemoved: 2,
    localFilesCleaned: 1,
    errorStage: null,
    errorMessage: null,
    retryCount: 0,
    durationMs: "300000",
    createdAt: new Date("2025-03-01T02:00:00.123Z"),
    ...fields,
  } satisfies BackupLogRecord);
}

describe("toDomain", () => {
  test("maps every field, bigint strings to numbers", () => {
    expect(toDomain(record())).toEqual({
      id: "6f1c2d1e-8a4b-4c3d-9e5f-0a1b2c3d4e5f",
      projectName: "shop",
      status: "success",
      currentStage: "notify_result",
      startedAt: new Date("2025-03-01T02:00:00.000Z"),
      completedAt: new Date("2025-03-01T02:05:00.000Z"),
      dumpSizeBytes: 5368709120,
      encrypted: true,
      verified: true,
      backupType: "database",
      snapshotId: "a1b2c3d4",
      snapshotMode: "combined",
      filesNew: 12,
      filesChanged: 3,
      bytesAdded: 4294967296,
      pruneSnapshotsRemoved: 2,
      localFilesCleaned: 1,
      errorStage: null,
      errorMessage: null,
      retryCount: 0,
      durationMs: 300000,
      createdAt: new Date("2025-03-01T02:00:00.123Z"),
    } satisfies BackupRun);
  });

  test("keeps nulls as nulls", () => {
    const run = toDomain(
      record({
        status: "started",
        currentStage: null,
        completedAt: null,
        dumpSizeBytes: null,
        bytesAdded: null,
        durationMs: null,
        filesNew: null,
        errorStage: null,
      }),
    );
    expect(run.currentStage).toBeNull();
    expect(run.completedAt).toBeNull();
    expect(run.dumpSizeBytes).toBeNull();
    expect(run.bytesAdded).toBeNull();
    expect(run.durationMs).toBeNull();
    expect(run.filesNew).toBeNull();
    expect(toRecord(run)).toEqual(
      record({
        status: "started",
        currentStage: null,
        completedAt: null,
        dumpSizeBytes: null,
        bytesAdded: null,
        durationMs: null,
        filesNew: null,
        errorStage: null,
      }),
    );
  });

  test("reads a failed run's error stage", () => {
    const run = toDomain(record({ status: "failed", errorStage: "sync", errorMessage: "timeout" }));
    expect(run.status).toBe("failed");
    expect(run.errorStage).toBe("sync");
    expect(run.errorMessage).toBe("timeout");
  });

  test("keeps an unknown status and stages as explicit unknown values", () => {
    const run = toDomain(
      record({ status: "cancelled", currentStage: "upload", errorStage: "replicate" }),
    );
    expect(run.status).toEqual({ unknown: "cancelled" });
    expect(run.currentStage).toEqual({ unknown: "upload" });
    expect(run.errorStage).toEqual({ unknown: "replicate" });

    const written = toRecord(run);
    expect(written.status).toBe("cancelled");
    expect(written.currentStage).toBe("upload");
    expect(written.errorStage).toBe("replicate");
  });

  test("accepts the largest safe integer", () => {
    const largest = String(Number.MAX_SAFE_INTEGER);
    expect(toDomain(record({ dumpSizeBytes: largest })).dumpSizeBytes).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });

  test("refuses a bigint beyond the safe integer range, naming the column", () => {
    expect(() => toDomain(record({ dumpSizeBytes: "9007199254740993" }))).toThrow(RangeError);
    expect(() => toDomain(record({ bytesAdded: "9007199254740992" }))).toThrow(/bytes_added/);
    expect(() => toDomain(record({ durationMs: "-9007199254740993" }))).toThrow(/duration_ms/);
  });
});

describe("toRecord", () => {
  test("writes numbers back as bigint strings", () => {
    const written = toRecord(toDomain(record()));
    expect(written).toBeInstanceOf(BackupLogRecord);
    expect(written.dumpSizeBytes).toBe("5368709120");
    expect(written.bytesAdded).toBe("4294967296");
    expect(written.durationMs).toBe("300000");
  });

  test("refuses numbers a bigint column cannot hold exactly, naming the column", () => {
    const run = toDomain(record());
    expect(() => toRecord({ ...run, dumpSizeBytes: 2 ** 53 })).toThrow(/dump_size_bytes/);
    expect(() => toRecord({ ...run, bytesAdded: 1.5 })).toThrow(RangeError);
    expect(() => toRecord({ ...run, durationMs: Number.NaN })).toThrow(/duration_ms/);
  });
});

describe("column coverage", () => {
  const columns = getMetadataArgsStorage().columns.filter((c) => c.target === BackupLogRecord);

  /** A value for column number `index` that no other column has and no default equals. */
  function distinctValue(type: unknown, index: number): unknown {
    switch (type) {
      case "uuid":
        return `00000000-0000-4000-8000-${String(index).padStart(12, "0")}`;
      case "varchar":
      case "text":
        return `value-of-column-${index}`;
      case "timestamptz":
        return new Date(Date.UTC(2024, 0, 1, 0, 0, index));
      case "bigint":
        return String(2 ** 40 + index);
      case "int":
        return 1000 + index;
      case "boolean":
        return true;
      default:
        throw new Error(`this test has no sample value for column type ${String(type)}: add one`);
    }
  }

  test("finds columns of every decorator kind, so the round trip below is not vacuous", () => {
    const names = columns.map((c) => c.propertyName);
    expect(names).toContain("id");
    expect(names).toContain("projectName");
    expect(names).toContain("createdAt");
  });

  test("every column survives record -> domain -> record unchanged", () => {
    const original = new BackupLogRecord();
    const fields = original as unknown as Record<string, unknown>;
    columns.forEach((column, index) => {
      fields[column.propertyName] = distinctValue(column.options.type, index);
    });

    const roundTripped = toRecord(toDomain(original));

    expect(Object.keys(roundTripped).sort()).toEqual(columns.map((c) => c.propertyName).sort());
    expect(roundTripped).toStrictEqual(original);
  });
});
