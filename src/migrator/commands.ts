import { type CommandDef, defineCommand } from "citty";
import { parseSeconds } from "../cli/args.ts";
import { BUILD } from "../cli/build-info.ts";
import { type MigrationContext, migrationCommands } from "../cli/migration-commands.ts";
import { addSecret, out } from "../cli/output.ts";
import { versionCommand } from "../cli/version-command.ts";
import { connectionSecrets, readConnection } from "../config/connection.ts";

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

/** Connects, waiting up to --timeout seconds for the database to accept connections. */
async function connect(timeout: unknown): Promise<MigrationContext> {
  const timeoutMs = parseSeconds(timeout, "--timeout") * 1000;
  const connection = readConnection();
  addSecret(connection.password, ...connectionSecrets());
  const [{ buildDataSourceOptions, withStderrLogging }, { checksums }, { defaultApplier }, wait] =
    await Promise.all([
      import("../config/typeorm.config.ts"),
      import("../db/migrations.ts"),
      import("../migrate/ledger.ts"),
      import("../migrate/wait.ts"),
    ]);
  const options = withStderrLogging(buildDataSourceOptions(process.env, connection));
  const dataSource = await wait.waitForDatabase(options, {
    timeoutMs,
    onWaiting: (seconds, reason) =>
      out.progress(`waiting for the database (${seconds} s): ${reason}`),
  });
  return {
    dataSource,
    checksums,
    applier: defaultApplier("migrator", `${BUILD.version} (${BUILD.revision})`),
  };
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
  ...migrationCommands({ args: waitArgs, open: (args) => connect(args.timeout), prefix: "" }),
  wait: wait as CommandDef,
  version: versionCommand("migrator") as CommandDef,
};
