import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { DataSource } from "typeorm";
import { AuditLogError } from "../../src/domain/audit/audit-log.port.ts";
import type { BackupRun } from "../../src/domain/audit/backup-run.ts";
import { TypeormAuditLogRepository } from "../../src/domain/audit/typeorm-audit-log.repository.ts";
import { freshDatabase, openDataSource } from "../support/database.ts";

const BASE = Date.parse("2025-03-01T00:00:00.000Z");
/** A fixed instant `minutes` after BASE, so orderings and cutoffs are exact. */
const at = (minutes: number) => new Date(BASE + minutes * 60_000);
const ids = (runs: BackupRun[]) => runs.map((run) => run.id);

let ds: DataSource;
let audit: TypeormAuditLogRepository;

beforeEach(async () => {
  const db = await freshDatabase();
  ds = await openDataSource(db);
  await ds.runMigrations({ transaction: "each" });
  audit = new TypeormAuditLogRepository(ds);
});

afterEach(async () => {
  await ds.destroy();
});

function runAt(projectName: string, minute: number): Promise<BackupRun> {
  return audit.startRun({ projectName, startedAt: at(minute) });
}

async function expectAuditError(promise: Promise<unknown>, code: AuditLogError["code"]) {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AuditLogError);
  expect((error as AuditLogError).code).toBe(code);
}

/** Waits until `count` sessions on this database are blocked on a lock. */
async function waitForLockWaiters(count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const [row] = await ds.query(
      "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (row.waiting >= count) return;
    if (Date.now() > deadline) throw new Error(`expected ${count} sessions waiting on a lock`);
    await Bun.sleep(10);
  }
}

describe("startRun", () => {
  test("records a started run with defaults filled in", async () => {
    const before = Date.now();
    const run = await audit.startRun({ projectName: "shop" });

    expect(run.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(run.startedAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(run.createdAt).toBeInstanceOf(Date);
    expect(run).toMatchObject({
      projectName: "shop",
      status: "started",
      currentStage: null,
      completedAt: null,
      backupType: null,
      encrypted: false,
      verified: false,
      retryCount: 0,
      durationMs: null,
    });
    expect(await audit.findByProject("shop")).toEqual([run]);
  });

  test("uses the given id, start time and backup type", async () => {
    const run = await audit.startRun({
      id: "11111111-2222-4333-8444-555555555555",
      projectName: "shop",
      backupType: "files",
      startedAt: at(5),
    });
    expect(run.id).toBe("11111111-2222-4333-8444-555555555555");
    expect(run.startedAt).toEqual(at(5));
    expect(run.backupType).toBe("files");
  });
});

describe("trackProgress", () => {
  test("records the current stage", async () => {
    const run = await audit.startRun({ projectName: "shop" });
    await audit.trackProgress(run.id, "dump");
    await audit.trackProgress(run.id, "encrypt");
    const [stored] = await audit.findByProject("shop");
    expect(stored?.currentStage).toBe("encrypt");
  });

  test("refuses a run that does not exist", async () => {
    await expectAuditError(
      audit.trackProgress("99999999-9999-4999-8999-999999999999", "dump"),
      "RUN_NOT_FOUND",
    );
  });
});

describe("finishRun", () => {
  test("records the outcome and computes the duration", async () => {
    const run = await audit.startRun({ projectName: "shop", startedAt: at(0) });
    await audit.trackProgress(run.id, "audit");
    const finished = await audit.finishRun(run.id, {
      status: "success",
      completedAt: new Date(at(3).getTime() + 250),
      dumpSizeBytes: 1024,
      encrypted: true,
      verified: true,
      snapshotId: "9f8e7d6c",
      snapshotMode: "combined",
      filesNew: 10,
      filesChanged: 2,
      bytesAdded: 4096,
      pruneSnapshotsRemoved: 1,
      localFilesCleaned: 3,
    });

    expect(finished).toMatchObject({
      status: "success",
      currentStage: "audit",
      durationMs: 180_250,
      dumpSizeBytes: 1024,
      snapshotId: "9f8e7d6c",
      filesChanged: 2,
      localFilesCleaned: 3,
      errorStage: null,
    });
    expect(await audit.findByProject("shop")).toEqual([finished]);
  });

  test("records a failure with its stage and message", async () => {
    const run = await audit.startRun({ projectName: "shop", startedAt: at(0) });
    const finished = await audit.finishRun(run.id, {
      status: "failed",
      completedAt: at(1),
      errorStage: "sync",
      errorMessage: "remote unreachable",
      retryCount: 3,
    });
    expect(finished).toMatchObject({
      status: "failed",
      errorStage: "sync",
      errorMessage: "remote unreachable",
      retryCount: 3,
      durationMs: 60_000,
    });
    expect(await audit.findFailed()).toEqual([finished]);
  });

  test("refuses to finish a run twice, keeping the first outcome", async () => {
    const run = await audit.startRun({ projectName: "shop", startedAt: at(0) });
    const first = await audit.finishRun(run.id, { status: "success", completedAt: at(2) });
    await expectAuditError(
      audit.finishRun(run.id, { status: "failed", completedAt: at(3) }),
      "RUN_ALREADY_FINISHED",
    );
    expect(await audit.findByProject("shop")).toEqual([first]);
  });

  test("lets exactly one of two concurrent finishers succeed", async () => {
    const run = await audit.startRun({ projectName: "shop", startedAt: at(0) });
    // Hold the row so both finishers are in flight at once, not merely one after the other.
    const holder = ds.createQueryRunner();
    await holder.startTransaction();
    await holder.query("SELECT 1 FROM backup_log WHERE id = $1 FOR UPDATE", [run.id]);
    const finishing = Promise.allSettled([
      audit.finishRun(run.id, { status: "success", completedAt: at(1) }),
      audit.finishRun(run.id, { status: "failed", completedAt: at(2), errorStage: "verify" }),
    ]);
    await waitForLockWaiters(2);
    await holder.commitTransaction();
    await holder.release();
    const outcomes = await finishing;

    const fulfilled = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const rejected = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(fulfilled).toHaveLength(1);
    expect(rejected.map((outcome) => (outcome.reason as AuditLogError).code)).toEqual([
      "RUN_ALREADY_FINISHED",
    ]);
    expect(await audit.findByProject("shop")).toEqual(fulfilled.map((outcome) => outcome.value));
  });

  test("refuses a run that does not exist", async () => {
    await expectAuditError(
      audit.finishRun("99999999-9999-4999-8999-999999999999", { status: "success" }),
      "RUN_NOT_FOUND",
    );
  });

  test("refuses a run whose status this version does not know, and leaves it alone", async () => {
    const run = await audit.startRun({ projectName: "shop", startedAt: at(0) });
    await ds.query(
      "UPDATE backup_log SET status = 'cancelled', current_stage = 'upload' WHERE id = $1",
      [run.id],
    );
    await expectAuditError(audit.finishRun(run.id, { status: "success" }), "RUN_ALREADY_FINISHED");

    const [stored] = await audit.findByProject("shop");
    expect(stored?.status).toEqual({ unknown: "cancelled" });
    expect(stored?.currentStage).toEqual({ unknown: "upload" });
  });
});

describe("bigint columns", () => {
  test("store values beyond 2^31 and read them back as numbers", async () => {
    const run = await audit.startRun({ projectName: "shop", startedAt: at(0) });
    const thirtyDaysMs = 30 * 24 * 3_600_000;
    await audit.finishRun(run.id, {
      status: "success",
      completedAt: new Date(at(0).getTime() + thirtyDaysMs),
      dumpSizeBytes: 5 * 2 ** 30,
      bytesAdded: 2 ** 45 + 7,
    });

    const [stored] = await audit.findByProject("shop");
    expect(stored?.dumpSizeBytes).toBe(5_368_709_120);
    expect(stored?.bytesAdded).toBe(35_184_372_088_839);
    expect(stored?.durationMs).toBe(2_592_000_000);

    const [raw] = await ds.query(
      "SELECT dump_size_bytes::text AS dump, bytes_added::text AS added, duration_ms::text AS duration FROM backup_log",
    );
    expect(raw).toEqual({ dump: "5368709120", added: "35184372088839", duration: "2592000000" });
  });

  test("a value beyond Number.MAX_SAFE_INTEGER fails the read instead of being rounded", async () => {
    const run = await audit.startRun({ projectName: "shop" });
    await ds.query("UPDATE backup_log SET bytes_added = 9007199254740993 WHERE id = $1", [run.id]);
    await expect(audit.findByProject("shop")).rejects.toThrow(/bytes_added/);
  });
});

describe("queries", () => {
  test("findByProject: one project's runs, newest first, limited", async () => {
    const first = await runAt("shop", 1);
    await runAt("blog", 2);
    const third = await runAt("shop", 3);
    const second = await runAt("shop", 2);

    expect(ids(await audit.findByProject("shop"))).toEqual(ids([third, second, first]));
    expect(ids(await audit.findByProject("shop", { limit: 2 }))).toEqual(ids([third, second]));
    expect(await audit.findByProject("nobody")).toEqual([]);
  });

  test("findFailed: failed runs only, newest first, by project, limited", async () => {
    const fail = async (projectName: string, minute: number) => {
      const run = await runAt(projectName, minute);
      return audit.finishRun(run.id, { status: "failed", completedAt: at(minute + 1) });
    };
    const shopOld = await fail("shop", 1);
    const blog = await fail("blog", 2);
    const shopNew = await fail("shop", 3);
    const succeeded = await runAt("shop", 4);
    await audit.finishRun(succeeded.id, { status: "success", completedAt: at(5) });
    await runAt("shop", 6);

    expect(ids(await audit.findFailed())).toEqual(ids([shopNew, blog, shopOld]));
    expect(ids(await audit.findFailed({ projectName: "shop" }))).toEqual(ids([shopNew, shopOld]));
    expect(ids(await audit.findFailed({ limit: 1 }))).toEqual(ids([shopNew]));
    expect(ids(await audit.findFailed({ projectName: "shop", limit: 1 }))).toEqual(ids([shopNew]));
  });

  test("findSince: runs started at or after the cutoff, oldest first, by project", async () => {
    await runAt("shop", 1);
    const atCutoff = await runAt("shop", 5);
    const blog = await runAt("blog", 7);
    const later = await runAt("shop", 6);

    expect(ids(await audit.findSince(at(5)))).toEqual(ids([atCutoff, later, blog]));
    expect(ids(await audit.findSince(at(5), { projectName: "shop" }))).toEqual(
      ids([atCutoff, later]),
    );
    expect(await audit.findSince(at(8))).toEqual([]);
  });

  test("findOrphaned: runs still started before the cutoff, oldest first", async () => {
    const oldest = await runAt("shop", 1);
    const old = await runAt("blog", 2);
    const finished = await runAt("shop", 3);
    await audit.finishRun(finished.id, { status: "success", completedAt: at(4) });
    await runAt("shop", 10);
    await runAt("blog", 11);

    expect(ids(await audit.findOrphaned(at(10)))).toEqual(ids([oldest, old]));
    expect(ids(await audit.findOrphaned(at(2)))).toEqual(ids([oldest]));
    expect(await audit.findOrphaned(at(1))).toEqual([]);
  });

  test("a limit that is not a non-negative integer is refused", async () => {
    await expect(audit.findByProject("shop", { limit: -1 })).rejects.toThrow(RangeError);
    await expect(audit.findFailed({ limit: 1.5 })).rejects.toThrow(RangeError);
  });
});
