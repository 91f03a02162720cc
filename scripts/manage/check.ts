import { defineCommand } from "citty";
import { out } from "../../src/cli/output.ts";
import { dirArg } from "./lib/args.ts";
import { loadContext } from "./lib/context.ts";
import { preflight, reportPreflight } from "./lib/preflight.ts";
import { ManageShell } from "./lib/shell.ts";

export const check = defineCommand({
  meta: {
    name: "check",
    description:
      "Preflight: docker and compose answering, .env complete, config present, disk space, compose file valid; lists every problem",
  },
  args: { ...dirArg },
  run: async ({ args }) => {
    // A missing .env or compose file is one of the problems to list, not a reason to stop.
    const ctx = await loadContext(args.dir, { env: false, compose: false });
    const exec = new ManageShell(ctx.root, false);
    reportPreflight(await preflight(exec, ctx), (line) => out.data(line));
    out.success("All checks passed");
  },
});
