import { redact } from "../config/redact.ts";

/**
 * Runs one command from the project config through `/bin/sh -c`. The text is the user's own shell
 * code (pipes, redirections), so a shell is intended; values reach it only as environment
 * variables.
 *
 * The command gets its own process group, so a timeout or an interrupt stops everything it
 * started (pg_dump | gzip), not just the shell. A watcher ends that group too when backupctl dies
 * without doing it itself (kill -9, the OOM killer): see watchGroup.
 */

export interface ShellOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  timeoutMs: number;
  /** Aborting stops the command like a timeout does (backupctl itself is being stopped). */
  signal?: AbortSignal;
  /** How long after SIGTERM the group gets SIGKILL. */
  killGraceMs?: number;
}

export interface ShellResult {
  exitCode: number | null;
  /** The signal that ended the shell, e.g. "SIGKILL". */
  signalCode: string | null;
  /** Why backupctl stopped it, if it did. */
  stoppedBy: "timeout" | "interrupt" | null;
  /**
   * The start of stderr (at most STDERR_LIMIT bytes, in whole lines): enough for an error message.
   * A line cut at the limit is left out, as it may hold only part of a secret, which redact()
   * would no longer recognise.
   */
  stderr: string;
}

const STDERR_LIMIT = 64 * 1024;
/** After the shell exits, a background child may still hold stderr open: stop waiting then. */
const STDERR_DRAIN_MS = 1000;

export async function runShell(command: string, options: ShellOptions): Promise<ShellResult> {
  // By absolute path: cron and container environments may have no PATH, /bin/sh is always there.
  const child = Bun.spawn(["/bin/sh", "-c", command], {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    // The dump goes to $BACKUPCTL_OUTPUT; stdout is not collected (it could be the whole dump).
    stdout: "ignore",
    stderr: "pipe",
    detached: true,
  });
  const stderr = collectHead(child.stderr, STDERR_LIMIT);
  const watcher = watchGroup(child.pid, options.killGraceMs ?? 5000);

  let stoppedBy: ShellResult["stoppedBy"] = null;
  let killTimer: Timer | undefined;
  const stop = (reason: "timeout" | "interrupt") => {
    if (stoppedBy) return;
    stoppedBy = reason;
    signalGroup(child.pid, "SIGTERM");
    killTimer = setTimeout(() => signalGroup(child.pid, "SIGKILL"), options.killGraceMs ?? 5000);
  };
  const timeoutTimer = setTimeout(() => stop("timeout"), options.timeoutMs);
  const onAbort = () => stop("interrupt");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  try {
    await child.exited;
  } finally {
    // Killed, not closed: closing its lifeline is what tells the watcher to stop the group.
    watcher.kill("SIGKILL");
    clearTimeout(timeoutTimer);
    clearTimeout(killTimer);
    options.signal?.removeEventListener("abort", onAbort);
  }
  await Promise.race([stderr.done, Bun.sleep(STDERR_DRAIN_MS)]);
  stderr.stop();
  return {
    exitCode: child.exitCode,
    signalCode: child.signalCode === null ? null : String(child.signalCode),
    stoppedBy,
    stderr: stderr.text(),
  };
}

export function succeeded(result: ShellResult): boolean {
  return result.exitCode === 0 && result.stoppedBy === null;
}

/**
 * A process that stops the group `pgid` (SIGTERM, then SIGKILL after the grace) once backupctl is
 * gone, however it went. Its stdin is a pipe only backupctl holds: the kernel closes it when
 * backupctl dies, even by SIGKILL, which no handler sees, and `read` then returns. Linux's
 * parent-death signal would not do: it reaches only a direct child, not the rest of the group.
 * It has its own session, so a signal to backupctl's process group does not take it along.
 */
const WATCHER_SCRIPT =
  'read -r _; kill -TERM -"$0" 2>/dev/null; sleep "$1"; kill -KILL -"$0" 2>/dev/null';

function watchGroup(pgid: number, graceMs: number) {
  return Bun.spawn(["/bin/sh", "-c", WATCHER_SCRIPT, String(pgid), String(graceMs / 1000)], {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "ignore",
    detached: true,
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/**
 * Reads a stream to its end, keeping only its first `limit` bytes (the rest is drained). When it
 * had more, the text ends at the last whole line.
 */
function collectHead(stream: ReadableStream<Uint8Array>, limit: number) {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let cut = false;
  let ended = false;
  const reader = stream.getReader();
  const done = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      if (kept + value.length > limit) cut = true;
      if (kept < limit) {
        chunks.push(value.subarray(0, limit - kept));
        kept += Math.min(value.length, limit - kept);
      }
    }
  })().catch(() => {
    // Cancelled by stop(): what was read so far is the result.
  });
  return {
    done,
    // Stopped before the end, the last line may be as incomplete as one cut at the limit.
    stop: () => {
      if (!ended) cut = true;
      void reader.cancel().catch(() => {});
    },
    text: () => {
      const text = Buffer.concat(chunks).toString("utf8");
      return cut ? text.slice(0, text.lastIndexOf("\n") + 1) : text;
    },
  };
}

const MESSAGE_LINES = 5;
const MESSAGE_CHARS = 1000;

/**
 * Why a command failed, in one message for the audit log: the reason, then its first stderr lines,
 * without `secrets`. Redacted before it is shortened: a secret cut in two is no longer found.
 */
export function explainFailure(
  result: ShellResult,
  timeoutSeconds: number,
  secrets: readonly string[] = [],
): string {
  const reason = failureReason(result, timeoutSeconds);
  const excerpt = stderrExcerpt(redact(result.stderr, secrets));
  return excerpt ? `${reason}: ${excerpt}` : `${reason} (nothing on stderr)`;
}

function failureReason(result: ShellResult, timeoutSeconds: number): string {
  if (result.stoppedBy === "timeout") return `timed out after ${timeoutSeconds} s`;
  if (result.stoppedBy === "interrupt") return "interrupted: backupctl was stopped";
  if (result.exitCode !== null) return `exit code ${result.exitCode}`;
  return `killed by ${result.signalCode}`;
}

/** The first non-empty stderr lines, bounded: the error, not a megabyte of progress output. */
function stderrExcerpt(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "")
    .slice(0, MESSAGE_LINES);
  const text = lines.join("\n");
  return text.length > MESSAGE_CHARS ? `${text.slice(0, MESSAGE_CHARS - 1)}…` : text;
}
