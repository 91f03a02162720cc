import { describe, expect, test } from "bun:test";
import { appendFile, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditFallbackFile, parseFallbackLine } from "../../src/app/audit-fallback.ts";
import type { BackupRun } from "../../src/domain/audit/backup-run.ts";

const run: BackupRun = {
  id: "11111111-2222-4333-8444-555555555555",
  projectName: "shop",
  status: "failed",
  currentStage: { unknown: "encrypt_v2" },
  startedAt: new Date("2025-03-01T02:00:00.000Z"),
  completedAt: new Date("2025-03-01T02:00:04.500Z"),
  dumpSizeBytes: 2 ** 40,
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
  errorStage: "dump",
  errorMessage: "exit code 1: pg_dump: error: no\nsecond line",
  retryCount: 2,
  durationMs: 4500,
  createdAt: new Date("2025-03-01T02:00:00.000Z"),
};

async function fallbackFile(): Promise<AuditFallbackFile> {
  const dir = await mkdtemp(join(tmpdir(), "backupctl-fallback-"));
  return new AuditFallbackFile(join(dir, "audit-fallback.jsonl"), join(dir, "locks", "f.lock"));
}

describe("fallback lines", () => {
  test("a run survives the round trip, unknown stages and large numbers included", () => {
    expect(parseFallbackLine(JSON.stringify(run))).toEqual(run);
  });

  test.each([
    ["not JSON", "{", /JSON/],
    ["not an object", "[1]", /not a JSON object/],
    ["a missing id", JSON.stringify({ ...run, id: undefined }), /id is not a valid string/],
    [
      "a bad date",
      JSON.stringify({ ...run, startedAt: "yesterday" }),
      /startedAt is not a valid date/,
    ],
    [
      "a fractional count",
      JSON.stringify({ ...run, retryCount: 1.5 }),
      /retryCount is not a valid integer/,
    ],
    ["a bad status", JSON.stringify({ ...run, status: 7 }), /status is not a valid status/],
    [
      "a string flag",
      JSON.stringify({ ...run, verified: "yes" }),
      /verified is not a valid boolean/,
    ],
  ])("%s is refused", (_, line, message) => {
    expect(() => parseFallbackLine(line)).toThrow(message);
  });
});

describe("the fallback file", () => {
  test("appends one line per run and drains only what the replay took", async () => {
    const file = await fallbackFile();
    for (const id of ["a", "b", "c", "d"]) await file.append({ ...run, id });
    const offered: string[] = [];
    const kept = await file.drain(async (line) => {
      const { id } = JSON.parse(line);
      offered.push(id);
      if (id === "b") return "keep";
      if (id === "c") return "stop";
      return "replayed";
    });
    expect(offered).toEqual(["a", "b", "c"]); // nothing is offered after "stop"
    expect(kept).toBe(3);
    const left = (await readFile(file.path, "utf8")).trim().split("\n");
    expect(left.map((line) => JSON.parse(line).id)).toEqual(["b", "c", "d"]);
  });

  test("draining everything leaves an empty file; a missing file is nothing to drain", async () => {
    const file = await fallbackFile();
    expect(await file.drain(async () => "replayed")).toBe(0);
    await file.append(run);
    await writeFile(file.path, `${await readFile(file.path, "utf8")}\n\n`); // blank lines are skipped
    expect(await file.drain(async () => "replayed")).toBe(0);
    expect(await readFile(file.path, "utf8")).toBe("");
  });

  test("an append after a torn last line starts on a new line", async () => {
    const file = await fallbackFile();
    const torn = JSON.stringify({ ...run, id: "torn" }).slice(0, 40);
    await writeFile(file.path, torn);
    await file.append(run);
    await file.append({ ...run, id: "next" });
    expect((await readFile(file.path, "utf8")).split("\n")).toEqual([
      torn,
      JSON.stringify(run),
      JSON.stringify({ ...run, id: "next" }),
      "",
    ]);
  });

  test("lines marked corrupt move to the .corrupt file, once; the rest stay", async () => {
    const file = await fallbackFile();
    await writeFile(file.path, "{ torn\n");
    await file.append(run);
    const verdicts = (line: string) => (line.startsWith("{ torn") ? "corrupt" : "keep");
    expect(await file.drain(async (line) => verdicts(line))).toBe(1);
    expect(await readFile(file.path, "utf8")).toBe(`${JSON.stringify(run)}\n`);
    expect(await readFile(file.corruptPath, "utf8")).toBe("{ torn\n");
    const offered: string[] = [];
    await file.drain(async (line) => {
      offered.push(line);
      return "keep";
    });
    expect(offered).toEqual([JSON.stringify(run)]);
  });

  test("the file, its rewrite and the .corrupt file are the owner's only (0600), whatever the umask", async () => {
    const previous = process.umask(0o022);
    try {
      const file = await fallbackFile();
      await file.append(run);
      const mode = async (path: string) => (await stat(path)).mode & 0o777;
      expect(await mode(file.path)).toBe(0o600);
      await appendFile(file.path, "{ torn\n");
      await file.drain(async (line) => (line.startsWith("{ torn") ? "corrupt" : "keep"));
      expect(await mode(file.path)).toBe(0o600);
      expect(await mode(file.corruptPath)).toBe(0o600);
    } finally {
      process.umask(previous);
    }
  });

  test("whole records glued onto a torn line (older versions) are offered on their own", async () => {
    const file = await fallbackFile();
    const torn = JSON.stringify({ ...run, id: "torn" }).slice(0, 40);
    const a = JSON.stringify({ ...run, id: "a" });
    const b = JSON.stringify({ ...run, id: "b" });
    await writeFile(file.path, `${torn}${a}\n${b}\n`);
    const offered: string[] = [];
    await file.drain(async (line) => {
      offered.push(line);
      return "replayed";
    });
    expect(offered).toEqual([torn, a, b]);
  });
});
