import { readFileSync } from "node:fs";
import { mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { pollUntil } from "../lib/poll.ts";

/**
 * Cross-process locks as files: created with O_EXCL (`wx`), holding the owner's pid. A lock whose
 * owner is dead (a crash, a killed container) is stale and taken over, so no one has to delete
 * lock files by hand.
 *
 * The file also holds the owner's start time from /proc: in a restarted container the same small
 * pid is soon reused by another process, and a pid alone would then look alive forever.
 */

export class LockHeldError extends Error {
  override name = "LockHeldError";
  constructor(
    readonly path: string,
    readonly pid: number | null,
  ) {
    super(`${path} is held by ${pid === null ? "another process" : `process ${pid}`}`);
  }
}

export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

/** A lock file written moments ago may still be empty: give its owner this long to write it. */
const WRITE_GRACE_MS = 10_000;

/** Locks this process holds: a lock file with our own pid is live only if it is one of these. */
const heldHere = new Set<string>();

interface Holder {
  content: string;
  alive: boolean;
  pid: number | null;
}

/** Takes the lock or throws LockHeldError naming the live owner. */
export async function acquireLock(path: string): Promise<FileLock> {
  await mkdir(dirname(path), { recursive: true });
  const content = ownerContent();
  // A few rounds: between seeing a stale lock and creating ours, another process may win.
  for (let round = 0; round < 3; round++) {
    if (await createExclusive(path, content)) {
      heldHere.add(path);
      return heldLock(path, content);
    }
    const holder = await readHolder(path);
    if (holder === null) continue; // released meanwhile
    if (holder.alive) throw new LockHeldError(path, holder.pid);
    await removeStale(path, holder.content);
  }
  throw new LockHeldError(path, null);
}

/** Waits up to `waitMs` for the lock, runs `work` holding it, releases it. */
export async function withLock<T>(
  path: string,
  work: () => Promise<T>,
  options: { waitMs: number },
): Promise<T> {
  let held: LockHeldError | undefined;
  const lock = await pollUntil(
    async () => {
      try {
        return await acquireLock(path);
      } catch (error) {
        if (!(error instanceof LockHeldError)) throw error;
        held = error;
        return undefined;
      }
    },
    {
      timeoutMs: options.waitMs,
      intervalMs: 50,
      onTimeout: () => {
        throw held;
      },
    },
  );
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** The pid of the live process holding the lock, or null when it is free or stale. */
export async function liveHolder(path: string): Promise<number | null> {
  const holder = await readHolder(path);
  return holder?.alive ? holder.pid : null;
}

function heldLock(path: string, content: string): FileLock {
  return {
    path,
    async release() {
      heldHere.delete(path);
      // Only our own file: never delete a lock another process took over.
      const current = await readFile(path, "utf8").catch(() => null);
      if (current === content) await unlink(path).catch(ignoreMissing);
    },
  };
}

async function createExclusive(path: string, content: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  return true;
}

async function readHolder(path: string): Promise<Holder | null> {
  let content: string;
  let modifiedMs: number;
  try {
    [content, { mtimeMs: modifiedMs }] = await Promise.all([readFile(path, "utf8"), stat(path)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const [pidText, startTime] = content.trim().split("\n");
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    // Unreadable: either being written right now, or left half-written by a crash long ago.
    return { content, alive: Date.now() - modifiedMs < WRITE_GRACE_MS, pid: null };
  }
  // Our own pid in a lock we do not hold is a previous process's (pids repeat in containers).
  const alive = pid === process.pid ? heldHere.has(path) : isAlive(pid, startTime);
  return { content, alive, pid };
}

/** Removes a stale lock, unless it changed since it was judged stale (someone else took it over). */
async function removeStale(path: string, staleContent: string): Promise<void> {
  // One process at a time decides about a stale lock; a guard itself left by a crash is stale
  // after the grace period (deciding takes milliseconds).
  const guard = `${path}.takeover`;
  if (!(await createExclusive(guard, ownerContent()))) {
    const guardAge = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (guardAge > WRITE_GRACE_MS) await unlink(guard).catch(ignoreMissing);
    return;
  }
  try {
    const current = await readFile(path, "utf8").catch(() => null);
    if (current === staleContent) await unlink(path).catch(ignoreMissing);
  } finally {
    await unlink(guard).catch(ignoreMissing);
  }
}

function ownerContent(): string {
  return `${process.pid}\n${processStartTime(process.pid) ?? ""}\n`;
}

function isAlive(pid: number, recordedStart: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = processStartTime(pid);
  return !recordedStart || start === null || start === recordedStart;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks after boot); null without /proc. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
}
