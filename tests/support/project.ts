import { randomBytes } from "node:crypto";
import { chmod, cp, mkdir, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";

/**
 * A throwaway copy of the project (sources, migrations, config; node_modules linked) so tests can
 * generate migrations and edit the record the way a developer does, without touching the checkout.
 */
export async function projectCopy(): Promise<string> {
  const dir = join(tmpdir(), `backupctl-project-${randomBytes(5).toString("hex")}`);
  await mkdir(dir, { recursive: true });
  // Readable by the postgres user, which runs an embedded server from here when tests run as root.
  await chmod(dir, 0o755);
  for (const entry of [
    "package.json",
    "bunfig.toml",
    "tsconfig.json",
    "biome.json",
    "scripts",
    "src",
    "migrations",
  ]) {
    await cp(join(PROJECT_ROOT, entry), join(dir, entry), { recursive: true });
  }
  await symlink(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

export interface ProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command the way a user types it, with only the environment given plus PATH and HOME
 * (`bare`: not even those, as a container gives a binary).
 */
export async function run(
  cmd: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string; bare?: boolean },
): Promise<ProcessResult> {
  const base = options.bare
    ? {}
    : { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root" };
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd,
    env: { ...base, ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** `bun run dev <args>` in a project directory. */
export function dev(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ProcessResult> {
  return run([process.execPath, "run", "dev", ...args], {
    cwd,
    env: { NODE_ENV: "development", ...env },
  });
}

/** `[X] Name` of each migrate:show line, without the applied-at / duration / by details. */
export function marks(stdout: string): string[] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => /^\[[ X]\] \S+/.exec(line)?.[0] ?? line);
}
