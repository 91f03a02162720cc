import { defineCommand } from "citty";
import { BUILD } from "../cli/build-info.ts";
import {
  applyPending,
  changeArgs,
  dryRunArg,
  type MigrationContext,
  parseSteps,
  printStatus,
  resolve,
  resolveArgs,
  revertSteps,
  showArgs,
} from "../cli/migration-commands.ts";
import { addSecret, out } from "../cli/output.ts";
import { readConnection } from "../config/connection.ts";
import { buildDataSourceOptions, withStderrLogging } from "../config/typeorm.config.ts";
import { checksums } from "../db/migrations.ts";
import { MigrateError } from "../migrate/errors.ts";
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
    throw new MigrateError("usage", `--timeout must be a number of seconds (got "${value}")`);
  }
  return seconds;
}

/** Connects (waiting up to --timeout), runs `work`, always disconnects. */
async function withDatabase(
  timeout: unknown,
  work: (context: MigrationContext) => Promise<void>,
): Promise<void> {
  const connection = readConnection();
  addSecret(connection.password);
  const options = withStderrLogging(buildDataSourceOptions(process.env, connection));
  const dataSource = await waitForDatabase(options, {
    timeoutMs: parseSeconds(timeout) * 1000,
    onWaiting: (seconds, reason) =>
      out.progress(`waiting for the database (${seconds} s): ${reason}`),
  });
  try {
    await work({
      dataSource,
      checksums,
      applier: defaultApplier("migrator", `${BUILD.version} (${BUILD.revision})`),
    });
  } finally {
    await dataSource.destroy();
  }
}

const jsonArg = { json: { type: "boolean", description: "print the result as JSON" } } as const;

export const run = defineCommand({
  meta: { name: "run", description: "Wait for the database, then apply every pending migration" },
  args: { ...waitArgs, ...changeArgs, ...dryRunArg, ...jsonArg },
  run: ({ args }) => withDatabase(args.timeout, (context) => applyPending(context, args)),
});

export const show = defineCommand({
  meta: {
    name: "show",
    description: "List migrations: [X] applied (when, how long, by what), [ ] pending",
  },
  args: { ...waitArgs, ...showArgs },
  run: ({ args }) =>
    withDatabase(args.timeout, (context) =>
      printStatus(context, { json: args.json, exitCode: args["exit-code"] }),
    ),
});

export const revert = defineCommand({
  meta: { name: "revert", description: "Revert the most recent migration(s), newest first" },
  args: {
    ...waitArgs,
    steps: { type: "string", default: "1", description: "how many migrations to revert" },
    ...changeArgs,
    ...dryRunArg,
    ...jsonArg,
  },
  run: ({ args }) => {
    const steps = parseSteps(args.steps);
    return withDatabase(args.timeout, (context) => revertSteps(context, steps, args));
  },
});

export const resolveCommand = defineCommand({
  meta: {
    name: "resolve",
    description: "Record a migration as applied or rolled back without running it",
  },
  args: { ...waitArgs, ...resolveArgs, ...changeArgs },
  run: ({ args }) => withDatabase(args.timeout, (context) => resolve(context, args)),
});

export const wait = defineCommand({
  meta: { name: "wait", description: "Wait until the database accepts connections" },
  args: { ...waitArgs },
  run: ({ args }) =>
    withDatabase(args.timeout, async () => {
      out.success("The database accepts connections");
    }),
});

export const version = defineCommand({
  meta: {
    name: "version",
    description: "Print the version and the git revision it was built from",
  },
  args: { json: { type: "boolean", description: "print JSON" } },
  run: ({ args }) => {
    out.data(args.json ? JSON.stringify(BUILD) : `migrator ${BUILD.version} (${BUILD.revision})`);
  },
});
