import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { run } from "./project.ts";

const built = new Map<string, Promise<string>>();

/** Builds the migrator binary once per test run with `bun run build`, the way a user builds it. */
export function buildMigrator(): Promise<string> {
  return buildBinary("migrator");
}

/** Builds one production binary once per test run. */
export function buildBinary(target: "migrator" | "backupctl"): Promise<string> {
  const existing = built.get(target);
  if (existing) return existing;
  const building = (async () => {
    const dir = join(tmpdir(), `backupctl-dist-${randomBytes(4).toString("hex")}`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const result = await run(
      [process.execPath, "run", "build", "--outdir", dir, "--only", target],
      {
        cwd: PROJECT_ROOT,
      },
    );
    if (result.exitCode !== 0) throw new Error(`bun run build failed: ${result.stderr}`);
    return join(dir, target);
  })();
  built.set(target, building);
  return building;
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
