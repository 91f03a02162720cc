import { defineCommand } from "citty";
import { out } from "../../src/cli/output.ts";
import { dirArg, dryRunArg, parseWait, waitArgs } from "./lib/args.ts";
import { requireDocker } from "./lib/compose.ts";
import { loadContext, SERVICES } from "./lib/context.ts";
import { rollBack } from "./lib/images.ts";
import { ManageShell } from "./lib/shell.ts";

export const rollback = defineCommand({
  meta: {
    name: "rollback",
    description:
      "Run the images the last upgrade replaced (:previous) again and wait for health; the database is not changed",
  },
  args: { ...dirArg, ...dryRunArg, ...waitArgs },
  run: async ({ args }) => {
    const ctx = await loadContext(args.dir);
    const exec = new ManageShell(ctx.root, Boolean(args["dry-run"]));
    const wait = parseWait(args);
    if (exec.dryRun) out.data(`# ./manage rollback in ${ctx.root}: the plan (nothing runs)`);
    else await requireDocker(exec);
    await rollBack(exec, ctx, wait);
    if (!exec.dryRun) {
      out.success(
        `Rolled back: ${SERVICES.app} runs the previous images and is healthy (the database was not changed)`,
      );
    }
  },
});
