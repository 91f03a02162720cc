import { closeSync, createReadStream, openSync } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { $ } from "zx/core";
import { ManageError } from "../../../src/cli/errors.ts";
import type { ManageFailure } from "../../../src/cli/exit-codes.ts";
import { out } from "../../../src/cli/output.ts";

/**
 * Every docker and git command `./manage` runs goes through one ManageShell. With --dry-run it
 * prints each command (to stdout: the plan is the data) and runs nothing, so the plan is exactly
 * what would run; otherwise it runs it with zx, which quotes every interpolated argument.
 */

export type Program = "docker" | "git";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /**
   * `change` (the default) alters something: it is echoed (`$ docker …`) before it runs.
   * `query` only reads; it runs quietly.
   */
  kind?: "change" | "query";
  /**
   * `capture` (default) keeps the output quietly; `stream` also shows it as it comes, as
   * progress on stderr (a build, the migrator); `inherit` hands the terminal over (logs, shell).
   */
  output?: "capture" | "stream" | "inherit";
  /** The command's stdout goes to this file (created with mode 600), not to memory. */
  stdoutFile?: string;
  /** The command's stdin comes from this file, decompressed on the way when `gunzip`. */
  stdinFile?: { path: string; gunzip?: boolean };
  /** What a query answers under --dry-run, where it does not run (e.g. `<container id>`). */
  placeholder?: string;
  /**
   * A local, read-only check whose answer decides whether the command goes on at all (git status):
   * it runs under --dry-run too, so a dry run refuses what the real run would refuse.
   */
  checkInDryRun?: boolean;
}

export class ManageShell {
  constructor(
    readonly cwd: string,
    readonly dryRun: boolean,
  ) {}

  /** A heading: a `# …` comment in the plan, a progress line when running. */
  step(title: string): void {
    if (this.dryRun) out.data(`# ${title}`);
    else out.progress(`==> ${title}`);
  }

  /** A remark in the plan only (what happens between commands, on this host). */
  note(text: string): void {
    if (this.dryRun) out.data(`#   ${text}`);
  }

  async exec(program: Program, args: string[], options: ExecOptions = {}): Promise<CommandResult> {
    const line = displayCommand(program, args, options);
    if (this.dryRun) {
      out.data(line);
      if (!options.checkInDryRun) {
        return { exitCode: 0, stdout: options.placeholder ?? "", stderr: "" };
      }
    }
    if ((options.kind ?? "change") === "change" && !this.dryRun) out.progress(`$ ${line}`);
    const output = options.output ?? "capture";
    const fd = options.stdoutFile ? openSync(options.stdoutFile, "w", 0o600) : undefined;
    let input: Readable | undefined;
    if (options.stdinFile) {
      const file = createReadStream(options.stdinFile.path);
      input = options.stdinFile.gunzip ? file.pipe(createGunzip()) : file;
    }
    try {
      const process_ = $({
        cwd: this.cwd,
        nothrow: true,
        quiet: true,
        ...(input ? { input } : {}),
        stdio: output === "inherit" ? "inherit" : [input ? "pipe" : "ignore", fd ?? "pipe", "pipe"],
      })`${program} ${args}`;
      if (output === "stream") {
        if (fd === undefined) forwardLines(process_.stdout);
        forwardLines(process_.stderr);
      }
      const result = await process_;
      return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}

/**
 * Shows a child's output on stderr line by line, indented (so the only line starting with
 * `error:` is the command's own last one) and redacted like everything else printed.
 */
function forwardLines(stream: Readable | null | undefined): void {
  if (!stream) return;
  let pending = "";
  stream.on("data", (chunk: Buffer | string) => {
    const lines = (pending + chunk.toString()).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) out.raw(process.stderr, `  ${line}`);
  });
  stream.on("end", () => {
    if (pending) out.raw(process.stderr, `  ${pending}`);
  });
}

/** The command as a POSIX shell line an operator could paste: arguments quoted when needed. */
export function displayCommand(
  program: Program,
  args: string[],
  options: Pick<ExecOptions, "stdinFile" | "stdoutFile"> = {},
): string {
  let line = [program, ...args].map(shellQuote).join(" ");
  if (options.stdinFile) {
    line = options.stdinFile.gunzip
      ? `gunzip -c ${shellQuote(options.stdinFile.path)} | ${line}`
      : `${line} < ${shellQuote(options.stdinFile.path)}`;
  }
  if (options.stdoutFile) line = `${line} > ${shellQuote(options.stdoutFile)}`;
  return line;
}

export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * What a failed command said, in one line: its last `error:`/`FATAL:` line and the `DETAIL:`
 * lines after it (pg_dump's "server version mismatch" detail names both versions), else its last
 * line. A leading `error: ` is dropped: the caller's own `error:` line wraps it.
 */
export function errorSummary(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  let at = -1;
  lines.forEach((line, i) => {
    if (/(^|\s|:)(error|fatal):/i.test(line)) at = i;
  });
  if (at < 0) return lines.at(-1) ?? "";
  const details = lines.slice(at + 1).filter((l) => /(^|\s|:)detail:/i.test(l));
  return [lines[at] as string, ...details].join("; ").replace(/^error:\s*/i, "");
}

/** Runs a command that must succeed; its failure becomes one line with the given exit code. */
export async function mustSucceed(
  exec: ManageShell,
  program: Program,
  args: string[],
  what: string,
  options: ExecOptions & { failure?: ManageFailure } = {},
): Promise<CommandResult> {
  const result = await exec.exec(program, args, options);
  if (result.exitCode !== 0) {
    throw new ManageError(
      options.failure ?? "dockerFailed",
      `${what} failed (exit ${result.exitCode}): ${errorSummary(result.stderr || result.stdout)}`,
    );
  }
  return result;
}
