import { appendFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type BackupRun,
  parseStage,
  parseStatus,
  type RunStage,
  type RunStatus,
} from "../domain/audit/backup-run.ts";
import { withLock } from "./file-lock.ts";

/**
 * Runs that could not be recorded because the audit database was unreachable, one finished run
 * per line (JSONL), until they are replayed into the database.
 *
 * Appending and replaying both hold a lock file: a replay rewrites the file, and a line appended
 * between its read and its rewrite would otherwise be lost.
 */
export type LineVerdict = "replayed" | "keep" | "stop";

export class AuditFallbackFile {
  constructor(
    readonly path: string,
    private readonly lockPath: string,
  ) {}

  async append(run: BackupRun): Promise<void> {
    await this.locked(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      await appendFile(this.path, `${JSON.stringify(run)}\n`);
    });
  }

  /**
   * Offers every line to `replay` in order, then keeps only the lines it did not take: "keep" keeps
   * that line, "stop" keeps it and every line after it untouched (the database went away).
   * Returns how many lines are kept.
   */
  async drain(replay: (line: string, lineNumber: number) => Promise<LineVerdict>): Promise<number> {
    return this.locked(async () => {
      const text = await readFile(this.path, "utf8").catch(ignoreMissing);
      if (!text) return 0;
      const lines = text.split("\n").filter((line) => line.trim() !== "");
      const kept: string[] = [];
      let stopped = false;
      for (const [index, line] of lines.entries()) {
        const verdict = stopped ? "keep" : await replay(line, index + 1);
        if (verdict !== "replayed") kept.push(line);
        if (verdict === "stop") stopped = true;
      }
      await this.rewrite(kept);
      return kept.length;
    });
  }

  private async rewrite(lines: string[]): Promise<void> {
    // Write aside, then rename: a crash mid-write leaves the old file, never half of a new one.
    const next = `${this.path}.next`;
    await writeFile(next, lines.map((line) => `${line}\n`).join(""));
    await rename(next, this.path);
  }

  private locked<T>(work: () => Promise<T>): Promise<T> {
    // Appends are a few bytes and replays a few queries: waiting is cheaper than losing a run.
    return withLock(this.lockPath, work, { waitMs: 30_000 });
  }
}

function ignoreMissing(error: unknown): null {
  if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
  throw error;
}

type FieldKind =
  | "string"
  | "string?"
  | "date"
  | "date?"
  | "integer"
  | "integer?"
  | "boolean"
  | "status"
  | "stage?";

/** How each BackupRun field looks in a line; `satisfies` makes a new field impossible to forget. */
const FIELDS = {
  id: "string",
  projectName: "string",
  status: "status",
  currentStage: "stage?",
  startedAt: "date",
  completedAt: "date?",
  dumpSizeBytes: "integer?",
  encrypted: "boolean",
  verified: "boolean",
  backupType: "string?",
  snapshotId: "string?",
  snapshotMode: "string?",
  filesNew: "integer?",
  filesChanged: "integer?",
  bytesAdded: "integer?",
  pruneSnapshotsRemoved: "integer?",
  localFilesCleaned: "integer?",
  errorStage: "stage?",
  errorMessage: "string?",
  retryCount: "integer",
  durationMs: "integer?",
  createdAt: "date",
} as const satisfies Record<keyof BackupRun, FieldKind>;

/** A line of the fallback file back into a BackupRun; throws naming the first bad field. */
export function parseFallbackLine(line: string): BackupRun {
  const raw: unknown = JSON.parse(line);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError("not a JSON object");
  }
  const source = raw as Record<string, unknown>;
  const run: Record<string, unknown> = {};
  for (const [field, kind] of Object.entries(FIELDS)) {
    run[field] = decodeField(source[field], kind, field);
  }
  return run as unknown as BackupRun;
}

function decodeField(value: unknown, kind: FieldKind, field: string): unknown {
  if (kind.endsWith("?") && (value === null || value === undefined)) return null;
  const fail = () => new TypeError(`${field} is not a valid ${kind.replace("?", "")}`);
  switch (kind.replace("?", "")) {
    case "string":
      if (typeof value !== "string") throw fail();
      return value;
    case "date": {
      const date = new Date(typeof value === "string" ? value : Number.NaN);
      if (Number.isNaN(date.getTime())) throw fail();
      return date;
    }
    case "integer":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw fail();
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw fail();
      return value;
    case "status":
      return parseStatus(rawText(value, fail)) satisfies RunStatus;
    default:
      return parseStage(rawText(value, fail)) satisfies RunStage;
  }
}

/** A status or stage as JSON writes it: a string, or `{ "unknown": "…" }` for unknown values. */
function rawText(value: unknown, fail: () => Error): string {
  if (typeof value === "string") return value;
  const unknown = (value as { unknown?: unknown } | null)?.unknown;
  if (typeof unknown === "string") return unknown;
  throw fail();
}
