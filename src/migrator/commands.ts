import { type CommandDef, defineCommand } from "citty";
import { parseSeconds } from "../cli/args.ts";
import { BUILD } from "../cli/build-info.ts";
import { type MigrationContext, migrationCommands } from "../cli/migration-commands.ts";
import { addSecret, out } from "../cli/output.ts";
import { versionCommand } from "../cli/version-command.ts";
import { connectionSecrets, readConnection } from "../config/connection.ts";
import type { MigrationState } from "../migrate/status.ts";

/**
 * The migrator's commands, the one list of them: the binary's (src/migrator/main.ts) and the one
 * `./manage migrate` accepts. TypeORM and the migrations load when a command connects, so
 * `version`, `--help` and `./manage` never pay for them.
 */

/** `--timeout`, in seconds, for how long to wait for the database to accept connections. */
const waitArgs = {
  timeout: {
    type: "string",
    default: "60",
    description: "seconds to wait for the database (0: try once)",
  },
} as const;

/** How long to wait for the database (--timeout), reporting every few seconds while waiting. */
function databaseWait(timeout: unknown) {
  const connection = readConnection();
  addSecret(connection.password, ...connectionSecrets());
  const wait = {
    timeoutMs: parseSeconds(timeout, "--timeout") * 1000,
    onWaiting: (seconds: number, reason: string) =>
      out.progress(`waiting for the database (${seconds} s): ${reason}`),
  };
  return { connection, wait };
}

/** Connects, waiting up to --timeout seconds for the database to accept connections. */
async function connect(timeout: unknown): Promise<MigrationContext> {
  const { connection, wait } = databaseWait(timeout);
  const [
    { buildDataSourceOptions, withStderrLogging },
    { checksums },
    { defaultApplier },
    waiting,
  ] = await Promise.all([
    import("../config/typeorm.config.ts"),
    import("../db/migrations.ts"),
    import("../migrate/ledger.ts"),
    import("../migrate/wait.ts"),
  ]);
  const options = withStderrLogging(buildDataSourceOptions(process.env, connection));
  const dataSource = await waiting.waitForDatabase(options, wait);
  return {
    dataSource,
    checksums,
    applier: defaultApplier("migrator", `${BUILD.version} (${BUILD.revision})`),
  };
}

/**
 * `show`, and `run` with nothing to do: the two bookkeeping tables over a plain connection, with
 * the migrations known by name and checksum. No DataSource is opened, so the answer costs a
 * connection and three small queries.
 */
async function readStates(timeout: unknown): Promise<MigrationState[]> {
  const { connection, wait } = databaseWait(timeout);
  const [checksums, { openClient, queryable }, { sourceFromChecksums }, status, waiting] =
    await Promise.all([
      BUILD.migrations ?? import("../db/migrations.ts").then((registry) => registry.checksums),
      import("../migrate/connect.ts"),
      import("../migrate/checksum.ts"),
      import("../migrate/status.ts"),
      import("../migrate/wait.ts"),
    ]);
  const client = await waiting.waitForConnection(() => openClient(connection), wait);
  try {
    return await status.readStatus(queryable(client), sourceFromChecksums(checksums));
  } finally {
    await client.end();
  }
}

const wait = defineCommand({
  meta: { name: "wait", description: "Wait until the database accepts connections" },
  args: { ...waitArgs },
  run: async ({ args }) => {
    const { dataSource } = await connect(args.timeout);
    await dataSource.destroy();
    out.success("The database accepts connections");
  },
});

export const migratorCommands: Record<string, CommandDef> = {
  ...migrationCommands({
    args: waitArgs,
    open: (args) => connect(args.timeout),
    readStates: (args) => readStates(args.timeout),
    prefix: "",
  }),
  wait: wait as CommandDef,
  version: versionCommand("migrator") as CommandDef,
};
