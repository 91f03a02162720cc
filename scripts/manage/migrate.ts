import { defineCommand } from "citty";
import { ManageError } from "../../src/cli/errors.ts";
import { allowUnknownOptions } from "../../src/cli/run-cli.ts";
import { migratorCommands } from "../../src/migrator/commands.ts";
import { dirArg } from "./lib/args.ts";
import { composeWithMigrator, requireDocker } from "./lib/compose.ts";
import { loadContext, SERVICES } from "./lib/context.ts";
import { ManageShell } from "./lib/shell.ts";

/** The migrator binary's commands, from its own registry (light: TypeORM is not loaded). */
const MIGRATOR_COMMANDS = Object.keys(migratorCommands);

export const migrate = allowUnknownOptions(
  defineCommand({
    meta: {
      name: "migrate",
      description:
        "Run the migrator service: migrate run|show|revert [arguments for the migrator], e.g. migrate show --json; exits with the migrator's code",
    },
    args: {
      command: {
        type: "positional",
        required: true,
        description: MIGRATOR_COMMANDS.join(" | "),
      },
      ...dirArg,
    },
    run: async ({ args, rawArgs }) => {
      if (!MIGRATOR_COMMANDS.includes(args.command)) {
        throw new ManageError(
          "usage",
          `unknown migrator command "${args.command}": use ${MIGRATOR_COMMANDS.join(", ")}`,
        );
      }
      const ctx = await loadContext(args.dir);
      const exec = new ManageShell(ctx.root, false);
      await requireDocker(exec);
      // The image the last deploy or upgrade built: what the running app was migrated with.
      const result = await exec.exec(
        "docker",
        composeWithMigrator(ctx, "run", "--rm", SERVICES.migrator, ...migratorArguments(rawArgs)),
        { output: "inherit" },
      );
      process.exitCode = result.exitCode;
    },
  }),
);

/** Everything after `migrate` except our own --dir option and a separating `--`. */
export function migratorArguments(rawArgs: string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--dir") i++;
    else if (arg !== "--" && !arg.startsWith("--dir=")) args.push(arg);
  }
  return args;
}
