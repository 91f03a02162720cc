import { defineCommand } from "citty";
import { parseCount } from "../../src/cli/args.ts";
import { ManageError } from "../../src/cli/errors.ts";
import { dirArg } from "./lib/args.ts";
import { composeArgs, requireDocker } from "./lib/compose.ts";
import { loadContext, SERVICES } from "./lib/context.ts";
import { ManageShell } from "./lib/shell.ts";

/** The long-running services (the migrator's containers are removed when it ends). */
const RUNNING_SERVICES: string[] = [SERVICES.app, SERVICES.db];

function checkService(service: string): void {
  if (!RUNNING_SERVICES.includes(service)) {
    throw new ManageError(
      "usage",
      `unknown service "${service}": use ${RUNNING_SERVICES.join(" or ")}`,
    );
  }
}

export const logs = defineCommand({
  meta: { name: "logs", description: "Show the logs of the app and the audit database, or of one" },
  args: {
    service: {
      type: "positional",
      required: false,
      description: RUNNING_SERVICES.join(" | "),
    },
    follow: { type: "boolean", alias: "f", description: "keep printing new lines" },
    lines: { type: "string", alias: "n", default: "100", description: "how many recent lines" },
    ...dirArg,
  },
  run: async ({ args }) => {
    if (args.service) checkService(args.service);
    const lines = String(parseCount(args.lines, "--lines"));
    const ctx = await loadContext(args.dir);
    const exec = new ManageShell(ctx.root, false);
    await requireDocker(exec);
    const result = await exec.exec(
      "docker",
      composeArgs(
        ctx,
        "logs",
        "--tail",
        lines,
        ...(args.follow ? ["--follow"] : []),
        ...(args.service ? [args.service] : []),
      ),
      { kind: "query", output: "inherit" },
    );
    process.exitCode = result.exitCode;
  },
});

export const shell = defineCommand({
  meta: {
    name: "shell",
    description: `Open a shell in a running container (default: ${SERVICES.app})`,
  },
  args: {
    service: {
      type: "positional",
      required: false,
      default: SERVICES.app,
      description: RUNNING_SERVICES.join(" | "),
    },
    ...dirArg,
  },
  run: async ({ args }) => {
    const service = args.service || SERVICES.app;
    checkService(service);
    const ctx = await loadContext(args.dir);
    const exec = new ManageShell(ctx.root, false);
    await requireDocker(exec);
    // Without a terminal (a script), no TTY is asked for: commands come on stdin.
    const tty = process.stdin.isTTY ? [] : ["-T"];
    const result = await exec.exec("docker", composeArgs(ctx, "exec", ...tty, service, "sh"), {
      kind: "query",
      output: "inherit",
    });
    process.exitCode = result.exitCode;
  },
});
