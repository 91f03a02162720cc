#!/usr/bin/env bun
import { stat } from "node:fs/promises";
import { join } from "node:path";
/**
 * `bun run build`: compiles the production binaries, each one file with everything inside:
 * dist/migrator (the entity and every migration, through the static registry) and dist/backupctl
 * (the app). Each is run once after compiling, and the build fails if it does not start.
 *
 * Flags, as measured (README, "Production migrator"): full --minify renames classes, which
 * breaks TypeORM's lookups by class name, so only whitespace and syntax are minified; the
 * binaries must not pick up a stray .env or bunfig.toml from wherever they are started.
 */
import { defineCommand } from "citty";
import { $ } from "zx";
import pkg from "../package.json" with { type: "json" };
import { CliError } from "../src/cli/errors.ts";
import { out } from "../src/cli/output.ts";
import { runCli } from "../src/cli/run-cli.ts";
import { PROJECT_ROOT } from "../src/db/paths.ts";

const TARGETS = {
  migrator: "src/migrator/main.ts",
  backupctl: "src/app/main.ts",
} as const;
type Target = keyof typeof TARGETS;

/** The git revision to bake in: BUILD_REVISION when set (image builds have no .git), else git's. */
async function gitRevision(): Promise<string> {
  if (process.env.BUILD_REVISION) return process.env.BUILD_REVISION;
  const rev = await $({
    nothrow: true,
    quiet: true,
    cwd: PROJECT_ROOT,
  })`git rev-parse --short=12 HEAD`;
  if (rev.exitCode !== 0) return "unknown";
  const dirty = await $({
    nothrow: true,
    quiet: true,
    cwd: PROJECT_ROOT,
  })`git status --porcelain --untracked-files=no`;
  return `${rev.stdout.trim()}${dirty.stdout.trim() ? "-dirty" : ""}`;
}

/** The registry's checksums, for BUILD_MIGRATIONS: the very list the binary's classes come from. */
async function registryChecksums(): Promise<Record<string, string>> {
  const registry = join(PROJECT_ROOT, "src", "db", "migrations.ts");
  return ((await import(registry)) as { checksums: Record<string, string> }).checksums;
}

async function compile(target: Target, outfile: string, revision: string): Promise<void> {
  const started = performance.now();
  const migrations = JSON.stringify(await registryChecksums());
  const build = await $({
    nothrow: true,
    quiet: true,
    cwd: PROJECT_ROOT,
  })`${process.execPath} build --compile \
    --minify-whitespace --minify-syntax --bytecode --format=esm \
    --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
    --define ${`BUILD_VERSION=${JSON.stringify(pkg.version)}`} --define ${`BUILD_REVISION=${JSON.stringify(revision)}`} \
    --define ${`BUILD_MIGRATIONS=${migrations}`} \
    --outfile ${outfile} ${TARGETS[target]}`;
  if (build.exitCode !== 0) {
    throw new CliError("internal", `bun build of ${target} failed:\n${build.stderr.trim()}`);
  }
  const smoke = await $({ nothrow: true, quiet: true, cwd: "/" })`${outfile} version`;
  const expected = `${target} ${pkg.version} (${revision})`;
  if (smoke.exitCode !== 0 || smoke.stdout.trim() !== expected) {
    throw new CliError(
      "internal",
      `the built ${target} does not run: \`${outfile} version\` exited ${smoke.exitCode} printing ${JSON.stringify(smoke.stdout.trim() || smoke.stderr.trim())}`,
    );
  }
  const { size } = await stat(outfile);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  out.success(`built ${outfile}: ${expected}, ${(size / 2 ** 20).toFixed(1)} MiB, in ${seconds} s`);
}

const main = defineCommand({
  meta: { name: "bun run build", description: "Compile dist/migrator and dist/backupctl" },
  args: {
    outdir: {
      type: "string",
      default: join(PROJECT_ROOT, "dist"),
      description: "where to write the binaries",
    },
    only: {
      type: "enum",
      options: Object.keys(TARGETS) as Target[],
      description: "build one binary",
    },
  },
  run: async ({ args }) => {
    const targets = args.only ? [args.only as Target] : (Object.keys(TARGETS) as Target[]);
    const revision = await gitRevision();
    for (const target of targets)
      await compile(target, join(String(args.outdir), target), revision);
  },
});

await runCli(main);
