import { realpathSync } from "node:fs";
import { defineCommand } from "citty";
import { ManageError } from "../../src/cli/errors.ts";
import { out } from "../../src/cli/output.ts";
import { dirArg, dryRunArg, parseWait, waitArgs } from "./lib/args.ts";
import { type Backup, backupBeforeMigrating, displayPath, restoreCommand } from "./lib/backup.ts";
import { composeWithMigrator } from "./lib/compose.ts";
import { loadContext, type ManageContext, SERVICES } from "./lib/context.ts";
import { type HealthWait, startHealthy, waitHealthy } from "./lib/health.ts";
import { imageId, rollBack, runningAppImage, tagPrevious } from "./lib/images.ts";
import { runMigrator } from "./lib/migrator.ts";
import { preflight, printProgress, recheckAfterPull, reportPreflight } from "./lib/preflight.ts";
import { errorSummary, ManageShell, mustSucceed } from "./lib/shell.ts";

export const upgrade = defineCommand({
  meta: {
    name: "upgrade",
    description:
      "git pull --ff-only, build, keep the running images as :previous, back up the audit database, migrate, restart the app; roll back when it is not healthy (alias: update)",
  },
  args: { ...dirArg, ...dryRunArg, ...waitArgs },
  run: async ({ args }) => {
    let ctx = await loadContext(args.dir);
    const exec = new ManageShell(ctx.root, Boolean(args["dry-run"]));
    const wait = parseWait(args);
    if (exec.dryRun) out.data(`# ./manage upgrade in ${ctx.root}: the plan (nothing runs)`);

    exec.step("Preflight");
    reportPreflight(await preflight(exec, ctx), printProgress, exec);

    exec.step("Updating the checkout");
    const { before } = await pullFastForward(exec, ctx);
    // The pull may have changed the compose file and .env.example.
    ctx = await loadContext(args.dir);
    await recheckAfterPull(exec, ctx);

    exec.step("Building the new images");
    const previousMigrator = await imageId(exec, ctx.images.migrator);
    await mustSucceed(exec, "docker", composeWithMigrator(ctx, "build"), "docker compose build", {
      output: "stream",
    });

    exec.step("Keeping the running images as :previous, for a rollback");
    const previousApp = await runningAppImage(exec, ctx);
    if (previousApp) await tagPrevious(exec, previousApp, ctx.images.app);
    else
      out.warn(`${SERVICES.app} is not running: there will be no previous image to roll back to`);
    if (previousMigrator) await tagPrevious(exec, previousMigrator, ctx.images.migrator);

    exec.step("Backing up the audit database");
    const backup = await backUp(exec, ctx, wait);

    exec.step("Applying migrations");
    try {
      await runMigrator(exec, ctx);
    } catch (error) {
      if (!(error instanceof ManageError) || error.kind !== "migrationFailed") throw error;
      throw new ManageError(
        "migrationFailed",
        `${error.message}. The running app was not touched. The database before this upgrade is in ${displayPath(ctx, backup.path)}; to restore it: ${restoreCommand(ctx, backup.path)}`,
      );
    }

    exec.step(`Restarting ${SERVICES.app} on the new images`);
    try {
      await startHealthy(exec, ctx, SERVICES.app, wait);
    } catch (error) {
      if (!(error instanceof ManageError)) throw error;
      if (!previousApp) {
        throw new ManageError(
          "unhealthy",
          `${error.message}; there is no previous image to roll back to`,
        );
      }
      out.warn(`${error.message}: rolling back to the previous images`);
      exec.step("Rolling back");
      await rollBack(exec, ctx, wait);
      throw new ManageError(
        "rolledBack",
        `the new version failed its health check, so the previous images run again and are healthy. The database keeps the new migrations (the previous app ignores them); the backup from before them is ${displayPath(ctx, backup.path)} (restore: ${restoreCommand(ctx, backup.path)}). The checkout stays at the new version; it was at ${before.slice(0, 12)} before: fix forward and upgrade again, or git checkout ${before.slice(0, 12)} before any ./manage deploy`,
      );
    }
    if (exec.dryRun) {
      exec.step(`Only if ${SERVICES.app} does not become healthy: rolling back`);
      await rollBack(exec, ctx, wait);
      return;
    }
    out.success(
      `Upgraded: ${SERVICES.app} is healthy on the new images (backup: ${displayPath(ctx, backup.path)})`,
    );
  },
});

/**
 * `git pull --ff-only`, refused unless the folder is the top of its own git checkout with no
 * changes to tracked files. Those checks run under --dry-run too; whether the pull is a
 * fast-forward a dry run cannot know (it would have to fetch).
 */
async function pullFastForward(
  exec: ManageShell,
  ctx: ManageContext,
): Promise<{ before: string; after: string }> {
  await checkOwnCheckout(exec, ctx);
  // Untracked files (backups/, config/projects.yml) never block a fast-forward; edits do.
  const status = await exec.exec("git", ["status", "--porcelain", "--untracked-files=no"], {
    kind: "query",
    checkInDryRun: true,
  });
  if (status.exitCode !== 0) {
    throw new ManageError(
      "gitRefused",
      `git status failed in ${ctx.root} (${errorSummary(status.stderr)}); nothing was changed`,
    );
  }
  const changed = status.stdout
    .split("\n")
    .map((line) => line.slice(3).trim())
    .filter(Boolean);
  if (changed.length > 0) {
    const shown = changed.slice(0, 5).join(", ") + (changed.length > 5 ? ", …" : "");
    throw new ManageError(
      "gitRefused",
      `the checkout has uncommitted changes (${shown}): commit or discard them, then upgrade again; nothing was changed`,
    );
  }
  const before = await revision(exec, "<revision before>");
  exec.note("a pull that is not a fast-forward is refused (exit 35): only the real run can tell");
  const pull = await exec.exec("git", ["pull", "--ff-only"], { output: "stream" });
  if (pull.exitCode !== 0) {
    throw new ManageError(
      "gitRefused",
      `git pull --ff-only failed (exit ${pull.exitCode}): ${errorSummary(pull.stderr || pull.stdout)}; nothing was changed`,
    );
  }
  const after = await revision(exec, "<revision after>");
  if (before === after) {
    out.progress(`Already up to date at ${before.slice(0, 12)}`);
    return { before, after };
  }
  if (!exec.dryRun) out.progress(`Updated ${before.slice(0, 12)} → ${after.slice(0, 12)}`);
  // This process already runs with the dependencies it started with; the next one may not.
  const deps = await exec.exec(
    "git",
    ["diff", "--name-only", before, after, "--", "package.json", "bun.lock"],
    { kind: "query" },
  );
  if (deps.stdout.trim()) {
    out.warn(
      "package.json or bun.lock changed: run `bun install --production --frozen-lockfile --ignore-scripts` before the next ./manage command",
    );
  }
  return { before, after };
}

/**
 * The folder must be the top of a git checkout: one nested in another repository would make git
 * pull that repository instead, and report success.
 */
async function checkOwnCheckout(exec: ManageShell, ctx: ManageContext): Promise<void> {
  const top = await exec.exec("git", ["rev-parse", "--show-toplevel"], {
    kind: "query",
    checkInDryRun: true,
  });
  if (top.exitCode !== 0) {
    throw new ManageError(
      "gitRefused",
      `${ctx.root} is not a git checkout (${errorSummary(top.stderr)}): upgrade pulls the new version with git; nothing was changed`,
    );
  }
  const topDir = top.stdout.trim();
  if (realpathSync(topDir) !== realpathSync(ctx.root)) {
    throw new ManageError(
      "gitRefused",
      `${ctx.root} is not the top of a git checkout but a folder inside ${topDir}: upgrade would pull that repository; point --dir at backupctl's own checkout. Nothing was changed`,
    );
  }
}

async function revision(exec: ManageShell, placeholder: string): Promise<string> {
  const result = await exec.exec("git", ["rev-parse", "HEAD"], { kind: "query", placeholder });
  return result.stdout.trim();
}

/** Waits for the database (it must already run: upgrade never starts it) and dumps it. */
async function backUp(exec: ManageShell, ctx: ManageContext, wait: HealthWait): Promise<Backup> {
  try {
    await waitHealthy(exec, ctx, SERVICES.db, wait);
  } catch (error) {
    if (!(error instanceof ManageError)) throw error;
    throw new ManageError(
      "dumpFailed",
      `cannot back up the audit database: ${error.message}; nothing was migrated (./manage deploy starts it)`,
    );
  }
  return backupBeforeMigrating(exec, ctx);
}
