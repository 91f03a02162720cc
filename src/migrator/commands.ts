import { defineCommand } from "citty";
import { BUILD } from "../cli/build-info.ts";
import { CliError } from "../cli/errors.ts";
import { type MigrationContext, migrationCommands } from "../cli/migration-commands.ts";
import { addSecret, out } from "../cli/output.ts";
import { versionCommand } from "../cli/version-command.ts";
import { connectionSecrets, readConnection } from "../config/connection.ts";
import { buildDataSourceOptions, withStderrLogging } from "../config/typeorm.config.ts";
import { checksums } from "../db/migrations.ts";
import { defaultApplier } from "../migrate/executor.ts";
import { waitForDatabase } from "../migrate/wait.ts";

/** `--timeout`, in seconds, for how long to wait for the database to accept connections. */
const waitArgs = {
  timeout: {
    type: "string",
    default: "60",
    description: "seconds to wait for the database (0: try once)",
  },
} as const;

function parseSeconds(value: unknown): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new CliError("usage", `--timeout must be a number of seconds (got "${value}")`);
  }
  return seconds;
}

/** Connects, waiting up to --timeout seconds for the database to accept connections. */
async function connect(timeout: unknown): Promise<MigrationContext> {
  const connection = readConnection();
  addSecret(connection.password, ...connectionSecrets());
  const options = withStderrLogging(buildDataSourceOptions(process.env, connection));
  const dataSource = await waitForDatabase(options, {
    timeoutMs: parseSeconds(timeout) * 1000,
    onWaiting: (seconds, reason) =>
      out.progress(`waiting for the database (${seconds} s): ${reason}`),
  });
  return {
    dataSource,
    checksums,
    applier: defaultApplier("migrator", `${BUILD.version} (${BUILD.revision})`),
  };
}

const shared = migrationCommands({
  args: waitArgs,
  open: (args) => connect(args.timeout),
  prefix: "",
});
export const { run, show, revert } = shared;
export const resolveCommand = shared.resolve;

export const wait = defineCommand({
  meta: { name: "wait", description: "Wait until the database accepts connections" },
  args: { ...waitArgs },
  run: async ({ args }) => {
    const { dataSource } = await connect(args.timeout);
    await dataSource.destroy();
    out.success("The database accepts connections");
  },
});

export const version = versionCommand("migrator");
