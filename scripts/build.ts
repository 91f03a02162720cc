#!/usr/bin/env bun
import { stat } from "node:fs/promises";
import { join } from "node:path";
/**
 * `bun run build`: compiles the production migrator into one binary, dist/migrator, with the
 * entity and every migration inside (through the static registry), then runs it once and fails
 * the build if it does not start.
 *
 * Flags, as measured (see README, "Production migrator"): full --minify renames classes, which
 * breaks TypeORM's lookups by class name, so only whitespace and syntax are minified; the binary
 * must not pick up a stray .env or bunfig.toml from wherever it is started.
 */
import { defineCommand } from "citty";
import { $ } from "zx";
import pkg from "../package.json" with { type: "json" };
import { out } from "../src/cli/output.ts";
import { runCli } from "../src/cli/run-cli.ts";
import { PROJECT_ROOT } from "../src/db/paths.ts";
import { MigrateError } from "../src/migrate/errors.ts";

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

const main = defineCommand({
  meta: {
    name: "bun run build",
    description: "Compile the production migrator into dist/migrator",
  },
  args: {
    outfile: {
      type: "string",
      default: join(PROJECT_ROOT, "dist", "migrator"),
      description: "where to write the binary",
    },
  },
  run: async ({ args }) => {
    const outfile = String(args.outfile);
    const revision = await gitRevision();
    const started = performance.now();
    const build = await $({
      nothrow: true,
      quiet: true,
      cwd: PROJECT_ROOT,
    })`${process.execPath} build --compile \
      --minify-whitespace --minify-syntax --bytecode --format=esm \
      --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
      --define ${`BUILD_VERSION=${JSON.stringify(pkg.version)}`} --define ${`BUILD_REVISION=${JSON.stringify(revision)}`} \
      --outfile ${outfile} src/migrator/main.ts`;
    if (build.exitCode !== 0) {
      throw new MigrateError("internal", `bun build failed:\n${build.stderr.trim()}`);
    }
    const smoke = await $({ nothrow: true, quiet: true, cwd: "/" })`${outfile} version`;
    const expected = `migrator ${pkg.version} (${revision})`;
    if (smoke.exitCode !== 0 || smoke.stdout.trim() !== expected) {
      throw new MigrateError(
        "internal",
        `the built binary does not run: \`${outfile} version\` exited ${smoke.exitCode} printing ${JSON.stringify(smoke.stdout.trim() || smoke.stderr.trim())}`,
      );
    }
    const { size } = await stat(outfile);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    out.success(
      `built ${outfile}: ${expected}, ${(size / 1024 / 1024).toFixed(1)} MiB, in ${seconds} s`,
    );
  },
});

await runCli(main);
