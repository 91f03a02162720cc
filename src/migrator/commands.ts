import { defineCommand } from "citty";
import type { DataSource } from "typeorm";
import {
  applyPending,
  parseSteps,
  printStatus,
  revertSteps,
  showArgs,
} from "../cli/migration-commands.ts";
import { addSecret, out } from "../cli/output.ts";
import { readConnection } from "../config/connection.ts";
import { buildDataSourceOptions, withStderrLogging } from "../config/typeorm.config.ts";
import { MigrateError } from "../migrate/errors.ts";
import { waitForDatabase } from "../migrate/wait.ts";
import { BUILD } from "./build-info.ts";

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
  work: (ds: DataSource) => Promise<void>,
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
    await work(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

export const run = defineCommand({
  meta: { name: "run", description: "Wait for the database, then apply every pending migration" },
  args: {
    ...waitArgs,
    json: { type: "boolean", description: "print the applied migrations as JSON" },
  },
  run: ({ args }) => withDatabase(args.timeout, (ds) => applyPending(ds, { json: args.json })),
});

export const show = defineCommand({
  meta: { name: "show", description: "List migrations: [X] applied, [ ] pending" },
  args: { ...waitArgs, ...showArgs },
  run: ({ args }) =>
    withDatabase(args.timeout, (ds) =>
      printStatus(ds, { json: args.json, exitCode: args["exit-code"] }),
    ),
});

export const revert = defineCommand({
  meta: { name: "revert", description: "Revert the most recent migration(s), newest first" },
  args: {
    ...waitArgs,
    steps: { type: "string", default: "1", description: "how many migrations to revert" },
    json: { type: "boolean", description: "print the reverted migrations as JSON" },
  },
  run: ({ args }) => {
    const steps = parseSteps(args.steps);
    return withDatabase(args.timeout, (ds) => revertSteps(ds, steps, { json: args.json }));
  },
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
