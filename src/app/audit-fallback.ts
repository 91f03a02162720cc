import { appendFile, mkdir, open, readFile, rename, writeFile } from "node:fs/promises";
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
 *
 * A crash or a full disk can leave a torn last line (no newline): an append then starts on a new
 * line, and a replay moves lines that are not records to `<file>.corrupt`, once, so they neither
 * block nor repeat. Each line `JSON.stringify(run)` writes starts with `{"id":`, which is how a
 * record glued onto a torn line by an older version is found again.
 */
export type LineVerdict = "replayed" | "keep" | "stop" | "corrupt";

const RECORD_START = /(?=\{"id":)/;

/** The audit records' copy is as private as the database it stands in for: owner only. */
const PRIVATE = { mode: 0o600 } as const;

export class AuditFallbackFile {
  constructor(
    readonly path: string,
    private readonly lockPath: string,
  ) {}

  /** Where lines that are not records are set aside. */
  get corruptPath(): string {
    return `${this.path}.corrupt`;
  }

  async append(run: BackupRun): Promise<void> {
    await this.locked(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const line = `${JSON.stringify(run)}\n`;
      await appendFile(this.path, (await endsMidLine(this.path)) ? `\n${line}` : line, PRIVATE);
    });
  }

  /**
   * Offers every line to `replay` in order, then keeps only the lines it did not take: "keep" keeps
   * that line, "stop" keeps it and every line after it untouched (the database went away),
   * "corrupt" moves it to `corruptPath`. Returns how many lines are kept.
   */
  async drain(replay: (line: string, lineNumber: number) => Promise<LineVerdict>): Promise<number> {
    return this.locked(async () => {
      const text = await fileStep(this.path, () =>
        readFile(this.path, "utf8").catch(ignoreMissing),
      );
      if (!text) return 0;
      const lines = text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .flatMap(separateGlued);
      const kept: string[] = [];
      const corrupt: string[] = [];
      let stopped = false;
      for (const [index, line] of lines.entries()) {
        const verdict = stopped ? "keep" : await replay(line, index + 1);
        if (verdict === "keep" || verdict === "stop") kept.push(line);
        if (verdict === "corrupt") corrupt.push(line);
        if (verdict === "stop") stopped = true;
      }
      // Set aside before the rewrite drops them: a crash in between repeats a line, never loses one.
      await fileStep(this.path, async () => {
        if (corrupt.length > 0) await appendFile(this.corruptPath, toLines(corrupt), PRIVATE);
        await this.rewrite(kept);
      });
      return kept.length;
    });
  }

  private async rewrite(lines: string[]): Promise<void> {
    // Write aside, then rename: a crash mid-write leaves the old file, never half of a new one.
    const next = `${this.path}.next`;
    await writeFile(next, toLines(lines), PRIVATE);
    await rename(next, this.path);
  }

  private locked<T>(work: () => Promise<T>): Promise<T> {
    // Appends are a few bytes and replays a few queries: waiting is cheaper than losing a run.
    return withLock(this.lockPath, work, { waitMs: 30_000 });
  }
}

/**
 * The fallback file could not be read or rewritten (full disk, permissions): the replay stopped,
 * and the file is as it was, so the next replay does it again (replaying a run twice overwrites
 * it with itself).
 */
export class FallbackFileError extends Error {
  override name = "FallbackFileError";
  constructor(path: string, cause: unknown) {
    super(`cannot update ${path}: ${(cause as Error).message}`, { cause });
  }
}

async function fileStep<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new FallbackFileError(path, error);
  }
}

function toLines(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join("");
}

/** Whether the file's last byte is not a newline: the last line was torn (a crash, a full disk). */
async function endsMidLine(path: string): Promise<boolean> {
  const handle = await open(path, "r").catch(ignoreMissing);
  if (!handle) return false;
  try {
    const { size } = await handle.stat();
    if (size === 0) return false;
    const { buffer } = await handle.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] !== 0x0a;
  } finally {
    await handle.close();
  }
}

/** A line that is not JSON may be a torn line with whole records glued onto it: split those off. */
function separateGlued(line: string): string[] {
  try {
    JSON.parse(line);
    return [line];
  } catch {
    return line.split(RECORD_START).filter((part) => part.trim() !== "");
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
  const invalidField = () => new TypeError(`${field} is not a valid ${kind.replace("?", "")}`);
  switch (kind.replace("?", "")) {
    case "string":
      if (typeof value !== "string") throw invalidField();
      return value;
    case "date": {
      const date = new Date(typeof value === "string" ? value : Number.NaN);
      if (Number.isNaN(date.getTime())) throw invalidField();
      return date;
    }
    case "integer":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw invalidField();
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw invalidField();
      return value;
    case "status":
      return parseStatus(rawText(value, invalidField)) satisfies RunStatus;
    default:
      return parseStage(rawText(value, invalidField)) satisfies RunStage;
  }
}

/** A status or stage as JSON writes it: a string, or `{ "unknown": "…" }` for unknown values. */
function rawText(value: unknown, invalidField: () => Error): string {
  if (typeof value === "string") return value;
  const unknown = (value as { unknown?: unknown } | null)?.unknown;
  if (typeof unknown === "string") return unknown;
  throw invalidField();
}
