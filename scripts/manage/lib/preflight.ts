import { accessSync, constants, existsSync, statfsSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ManageError } from "../../../src/cli/errors.ts";
import { formatBytes } from "../../../src/cli/format-bytes.ts";
import { out } from "../../../src/cli/output.ts";
import { composeWithMigrator } from "./compose.ts";
import { type ManageContext, parseEnvFile } from "./context.ts";
import { errorSummary, type ManageShell } from "./shell.ts";

/**
 * The preflight of `check`, `deploy` and `upgrade`: every check runs, and every problem is
 * reported at once, so one pass fixes them all.
 */

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

const DEFAULT_MIN_FREE_MB = 2048;

export async function preflight(exec: ManageShell, ctx: ManageContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (name: string, ok: boolean, detail: string) => results.push({ name, ok, detail });

  const docker = await exec.exec("docker", ["version", "--format", "{{.Server.Version}}"], {
    kind: "query",
    placeholder: "<version>",
  });
  const dockerInstalled = docker.exitCode !== 127;
  if (!dockerInstalled) add("docker", false, "docker is not installed (not found on PATH)");
  else if (docker.exitCode !== 0) {
    add("docker", false, `the Docker engine does not answer: ${errorSummary(docker.stderr)}`);
  } else add("docker", true, `engine ${docker.stdout.trim()}`);

  let composeWorks = false;
  if (dockerInstalled) {
    const version = await exec.exec("docker", ["compose", "version", "--short"], {
      kind: "query",
      placeholder: "<version>",
    });
    composeWorks = version.exitCode === 0;
    add(
      "compose",
      composeWorks,
      composeWorks
        ? `docker compose ${version.stdout.trim()}`
        : `docker compose (the v2 plugin) does not work: ${composeFailure(version.stderr)}`,
    );
  }

  if (!existsSync(ctx.composeFile)) add("compose file", false, `${ctx.composeFile} is missing`);
  else if (!composeWorks) add("compose file", false, "not checked: it needs docker compose");
  else {
    const config = await exec.exec("docker", composeWithMigrator(ctx, "config", "--quiet"), {
      kind: "query",
    });
    add(
      "compose file",
      config.exitCode === 0,
      config.exitCode === 0
        ? "docker-compose.yml is valid"
        : `docker-compose.yml is not valid: ${errorSummary(config.stderr)}`,
    );
  }

  for (const problem of await envProblems(ctx)) add(".env", false, problem);
  if (existsSync(ctx.envFile) && !results.some((r) => r.name === ".env")) {
    add(".env", true, ".env is complete");
  }

  const projects = join(ctx.root, "config", "projects.yml");
  if (existsSync(projects)) add("config", true, "config/projects.yml exists");
  else {
    add(
      "config",
      false,
      "config/projects.yml is missing, and the app does not start without it: copy config/projects.example.yml and edit it",
    );
  }

  const backups = relative(ctx.root, ctx.backupsDir) || ctx.backupsDir;
  if (!isWritableDir(ctx.backupsDir)) {
    add("backups", false, `${backups}/ is missing or not writable: run ./manage setup`);
  } else add("backups", true, `${backups}/ is writable`);

  const minFree = Number(process.env.BACKUPCTL_MIN_FREE_MB || DEFAULT_MIN_FREE_MB) * 1024 * 1024;
  const { bavail, bsize } = statfsSync(ctx.root);
  const free = bavail * bsize;
  add(
    "disk",
    free >= minFree,
    free >= minFree
      ? `${formatBytes(free)} free`
      : `only ${formatBytes(free)} free on the filesystem of ${ctx.root} (images and backups need at least ${formatBytes(minFree)})`,
  );
  return results;
}

/**
 * The checks that depend on the checkout, again after `git pull`: the new compose file must be
 * valid and the new .env.example may name variables .env lacks.
 */
export async function recheckAfterPull(exec: ManageShell, ctx: ManageContext): Promise<void> {
  const config = await exec.exec("docker", composeWithMigrator(ctx, "config", "--quiet"), {
    kind: "query",
  });
  const problems = await envProblems(ctx);
  if (config.exitCode !== 0) {
    problems.unshift(`docker-compose.yml is not valid: ${errorSummary(config.stderr)}`);
  }
  if (exec.dryRun) {
    for (const p of problems) exec.note(`preflight problem (a real run stops here): ${p}`);
    return;
  }
  if (problems.length > 0) {
    throw new ManageError(
      "preflight",
      `after git pull, ${problems.length} problem(s) before building: ${problems.join("; ")}; the checkout is updated, nothing else changed`,
    );
  }
}

/** What is wrong with `.env`, compared with `.env.example`. */
export async function envProblems(ctx: ManageContext): Promise<string[]> {
  if (!existsSync(ctx.envFile)) return ["no .env: run ./manage setup"];
  const problems: string[] = [];
  const mode = statSync(ctx.envFile).mode & 0o777;
  if (mode & 0o077) {
    problems.push(
      `.env can be read by other users (mode ${mode.toString(8)}): chmod 600 ${ctx.envFile}`,
    );
  }
  const example = existsSync(ctx.envExample)
    ? parseEnvFile(await Bun.file(ctx.envExample).text())
    : {};
  const missing = Object.keys(example).filter((key) => !(key in ctx.env));
  if (missing.length > 0) {
    problems.push(`.env lacks ${missing.join(", ")} (listed in .env.example)`);
  }
  const password = ctx.env.AUDIT_DB_PASSWORD;
  if (!password) problems.push("AUDIT_DB_PASSWORD is empty: the audit database needs a password");
  else if (password === example.AUDIT_DB_PASSWORD) {
    problems.push(
      "AUDIT_DB_PASSWORD is still the value from .env.example: set a password of your own",
    );
  }
  if (ctx.env.DATABASE_URL) {
    problems.push(
      "DATABASE_URL is set in .env: it would take precedence over the backupctl-audit-db container the compose file connects the app and the migrator to; remove it",
    );
  }
  return problems;
}

/** Prints the results (data for `check`, progress for deploy/upgrade) and fails on any problem. */
export function reportPreflight(
  results: CheckResult[],
  print: (line: string) => void,
  exec?: ManageShell,
): void {
  if (exec?.dryRun) {
    for (const r of results.filter((x) => !x.ok)) {
      exec.note(`preflight problem (a real run stops here): ${r.detail}`);
    }
    return;
  }
  for (const r of results) print(`${r.ok ? "ok  " : "FAIL"}  ${r.name.padEnd(13)} ${r.detail}`);
  const problems = results.filter((r) => !r.ok);
  if (problems.length === 0) return;
  throw new ManageError(
    "preflight",
    `preflight found ${problems.length} problem(s): ${problems.map((p) => p.detail).join("; ")}`,
  );
}

export function printProgress(line: string): void {
  out.progress(line);
}

function isWritableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why `docker compose version` failed. Without the v2 plugin, docker itself answers "unknown flag:
 * --short" and then a generic "Run 'docker --help'" line: the first is the one that explains.
 */
function composeFailure(stderr: string): string {
  if (/unknown (flag|command|shorthand)/i.test(stderr)) {
    return "docker has no compose v2 plugin (the old docker-compose 1.x is not enough): install docker-compose-plugin";
  }
  return errorSummary(stderr);
}
