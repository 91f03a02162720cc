import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { withLock } from "../../src/app/file-lock.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { run } from "./project.ts";

/** What a compiled binary is made of: a change to any of these makes a new build. */
const BUILD_INPUTS = ["src", "migrations", "scripts/build.ts", "package.json", "bun.lock"];
/** Cached builds no run has used for this long are deleted when a new one is made. */
const UNUSED_MS = 60 * 60_000;

const built = new Map<string, Promise<string>>();

/** Builds the migrator binary with `bun run build`, the way a user builds it. */
export function buildMigrator(): Promise<string> {
  return buildBinary("migrator");
}

/**
 * Builds one production binary, once for all test workers (and later runs) while its sources stay
 * the same: compiling takes seconds of CPU. The build goes to a directory keyed by a hash of its
 * inputs; a worker that finds another one building waits for it (a lock file), and a build only
 * gets its final name once complete, so a killed build is never taken for one.
 */
export function buildBinary(target: "migrator" | "backupctl"): Promise<string> {
  const existing = built.get(target);
  if (existing) return existing;
  const building = (async () => {
    const dir = join(tmpdir(), `backupctl-dist-${await inputsHash()}`);
    const binary = join(dir, target);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await withLock(
      `${binary}.lock`,
      async () => {
        if (await exists(binary)) return;
        await pruneUnused(dir);
        const scratch = await mkdtemp(join(tmpdir(), "backupctl-dist-build-"));
        try {
          const result = await run(
            [process.execPath, "run", "build", "--outdir", scratch, "--only", target],
            { cwd: PROJECT_ROOT },
          );
          if (result.exitCode !== 0) throw new Error(`bun run build failed: ${result.stderr}`);
          await rename(join(scratch, target), binary);
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
      },
      { waitMs: 50_000 },
    );
    // Marks the build as in use, so that pruneUnused leaves it alone.
    const now = new Date();
    await utimes(dir, now, now);
    return binary;
  })();
  built.set(target, building);
  return building;
}

/** A hash of the build's inputs and of the Bun that compiles them. */
async function inputsHash(): Promise<string> {
  const hash = createHash("sha256").update(`${Bun.version} ${Bun.revision}\n`);
  for (const input of BUILD_INPUTS) {
    const path = join(PROJECT_ROOT, input);
    const files = (await stat(path)).isDirectory()
      ? (await readdir(path, { recursive: true, withFileTypes: true }))
          .filter((entry) => entry.isFile())
          .map((entry) => join(entry.parentPath, entry.name))
          .sort()
      : [path];
    for (const file of files) {
      // Relative names: every checkout of the same sources shares one build.
      hash.update(`${relative(PROJECT_ROOT, file)}\n`).update(await readFile(file));
    }
  }
  return hash.digest("hex").slice(0, 16);
}

/** Deletes the cached builds of other sources that no run has used lately. */
async function pruneUnused(keep: string): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const dir = join(tmpdir(), name);
    if (!/^backupctl-dist-[0-9a-f]{16}$/.test(name) || dir === keep) continue;
    const { mtimeMs } = await stat(dir);
    if (Date.now() - mtimeMs > UNUSED_MS) await rm(dir, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** An empty working directory: no node_modules, no migrations, no .env next to the binary. */
export async function emptyDir(): Promise<string> {
  const dir = join(tmpdir(), `backupctl-empty-${randomBytes(4).toString("hex")}`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  return dir;
}

/** Runs the binary from an empty directory with an environment of only the given variables. */
export async function migrator(binary: string, args: string[], env: Record<string, string>) {
  return run([binary, ...args], { cwd: await emptyDir(), env, bare: true });
}
