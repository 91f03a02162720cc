import { defineCommand } from "citty";
import { out } from "../../src/cli/output.ts";
import { ManageError } from "./exit-codes.ts";
import { dirArg, dryRunArg, parseWait, waitArgs } from "./lib/args.ts";
import {
  auditDatabaseHasData,
  backupBeforeMigrating,
  displayPath,
  restoreCommand,
} from "./lib/backup.ts";
import { composeWithMigrator } from "./lib/compose.ts";
import { loadContext, SERVICES } from "./lib/context.ts";
import { Executor, mustSucceed } from "./lib/executor.ts";
import { startHealthy } from "./lib/health.ts";
import { runMigrator } from "./lib/migrator.ts";
import { preflight, printProgress, reportPreflight } from "./lib/preflight.ts";

export const deploy = defineCommand({
  meta: {
    name: "deploy",
    description:
      "Preflight, build, start the audit database, wait for it, migrate, start the app, wait for its health",
  },
  args: { ...dirArg, ...dryRunArg, ...waitArgs },
  run: async ({ args }) => {
    const ctx = await loadContext(args.dir);
    const exec = new Executor(ctx.root, Boolean(args["dry-run"]));
    const wait = parseWait(args);
    if (exec.dryRun) out.data(`# ./manage deploy in ${ctx.root}: the plan (nothing runs)`);

    exec.step("Preflight");
    reportPreflight(await preflight(exec, ctx), printProgress, exec);

    exec.step("Building the images");
    await mustSucceed(exec, "docker", composeWithMigrator(ctx, "build"), "docker compose build", {
      output: "stream",
    });

    exec.step(`Starting ${SERVICES.db}`);
    await startHealthy(exec, ctx, SERVICES.db, wait);

    // A redeploy migrates a database with history in it: back it up first, as upgrade does.
    exec.step("Backing up the audit database if it already holds data");
    exec.note("only when it already has tables (a redeploy); a first deploy has nothing to lose");
    const backup = (await auditDatabaseHasData(exec, ctx))
      ? await backupBeforeMigrating(exec, ctx)
      : null;
    if (!backup && !exec.dryRun) out.progress("The audit database is new: nothing to back up");
    const restoreHint = backup
      ? `. The database before this deploy is in ${displayPath(ctx, backup.path)}; to restore it: ${restoreCommand(ctx, backup.path)}`
      : "";

    exec.step("Applying migrations");
    try {
      await runMigrator(exec, ctx);
    } catch (error) {
      if (error instanceof ManageError && error.failure === "migrationFailed") {
        throw new ManageError(
          "migrationFailed",
          `${error.message}; the app was not started${restoreHint}`,
        );
      }
      throw error;
    }

    exec.step(`Starting ${SERVICES.app}`);
    await startHealthy(exec, ctx, SERVICES.app, wait);
    const backedUp = backup ? ` (backup: ${displayPath(ctx, backup.path)})` : "";
    if (!exec.dryRun) out.success(`Deployed: backupctl is running and healthy${backedUp}`);
  },
});
