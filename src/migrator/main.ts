/**
 * The production migrator: compiled by `bun run build` into one binary (dist/migrator) with the
 * entity and every migration inside. `migrator [run|show|revert|resolve|wait|version]` (commands.ts);
 * `run` is the default, so a container's bare entrypoint migrates.
 */
import { defineCommand } from "citty";
import { BUILD } from "../cli/build-info.ts";
import { runCli } from "../cli/run-cli.ts";
import { migratorCommands } from "./commands.ts";

// The binary is the production migrator: production rules unless told otherwise.
process.env.NODE_ENV ??= "production";

const main = defineCommand({
  meta: {
    name: "migrator",
    version: BUILD.version,
    description: "Apply the backupctl audit database migrations",
  },
  subCommands: migratorCommands,
});

/** `migrator` alone, or with only flags, means `migrator run …`; `--version` means `version`. */
function withDefaultCommand(args: string[]): string[] {
  const [first] = args;
  if (first === undefined) return ["run"];
  if (first === "--version" || first === "-v") return ["version", ...args.slice(1)];
  if (first.startsWith("-") && first !== "--help" && first !== "-h") return ["run", ...args];
  return args;
}

await runCli(main, withDefaultCommand(process.argv.slice(2)));
