/**
 * `backupctl`: runs the configured backups and records each run in the audit database, and serves
 * their health and status over HTTP. `backupctl [run|status|logs|health|serve|version]`; exit
 * codes in src/cli/exit-codes.ts.
 */
import { defineCommand } from "citty";
import { BUILD } from "../cli/build-info.ts";
import { runCli } from "../cli/run-cli.ts";
import { health } from "./commands/health.ts";
import { logs } from "./commands/logs.ts";
import { run } from "./commands/run.ts";
import { serve } from "./commands/serve.ts";
import { status } from "./commands/status.ts";
import { version } from "./commands/version.ts";

// What deploy ships: production rules (password required, errors-only logging) unless told otherwise.
process.env.NODE_ENV ??= "production";

const main = defineCommand({
  meta: {
    name: "backupctl",
    version: BUILD.version,
    description: "Run the configured backups, record them in the audit database, report on them",
  },
  subCommands: { run, status, logs, health, serve, version },
});

/** `--version` / `-v` alone mean `version`, as for the migrator. */
function withVersionAlias(args: string[]): string[] {
  const [first] = args;
  return first === "--version" || first === "-v" ? ["version", ...args.slice(1)] : args;
}

await runCli(main, withVersionAlias(process.argv.slice(2)));
