import { defineCommand } from "citty";
import { confirm, parseCount } from "../../src/cli/args.ts";
import { CliError } from "../../src/cli/errors.ts";
import { EXIT_CODES } from "../../src/cli/exit-codes.ts";
import { applyPending } from "../../src/cli/migration-commands.ts";
import { out } from "../../src/cli/output.ts";
import { allowUnknownOptions } from "../../src/cli/run-cli.ts";
import { describeConnection, libpqSslEnv } from "../../src/config/connection.ts";
import { migrationStatus, pendingOf } from "../../src/migrate/status.ts";
import {
  compose,
  type DevEnv,
  dbArg,
  describeDevTarget,
  devEnv,
  openDevDataSource,
  startDevDatabase,
} from "../lib/dev-env.ts";

export const up = defineCommand({
  meta: { name: "up", description: "Start the dev database (created on first use)" },
  args: { ...dbArg },
  run: async ({ args }) => {
    const env = await devEnv(args.db);
    requireManaged(env, "up");
    await startDevDatabase(env);
    out.success(`Dev database is up: ${describeDevTarget(env)}`);
  },
});

export const down = defineCommand({
  meta: { name: "down", description: "Stop the dev database, keeping its data" },
  args: { ...dbArg },
  run: async ({ args }) => {
    const env = await devEnv(args.db);
    requireManaged(env, "down");
    if (env.engine === "docker") {
      await mustSucceed(compose("down"), "docker compose down");
    } else if (!(await env.embedded.isRunning())) {
      out.success("The dev database is not running");
      return;
    } else {
      await env.embedded.stop();
    }
    out.success("Dev database stopped (data kept; `bun run dev reset --yes` deletes it)");
  },
});

export const reset = defineCommand({
  meta: {
    name: "reset",
    description: "Delete the dev database, recreate it and run every migration",
  },
  args: {
    ...dbArg,
    yes: { type: "boolean", alias: "y", description: "do not ask for confirmation" },
  },
  run: async ({ args }) => {
    const env = await devEnv(args.db);
    requireManaged(env, "reset");
    await confirm(
      `This deletes every row of the dev database ${describeDevTarget(env)}.`,
      Boolean(args.yes),
    );
    if (env.engine === "docker") {
      await mustSucceed(compose("down", "--volumes"), "docker compose down --volumes");
    } else {
      await env.embedded.destroy();
    }
    await startDevDatabase(env);
    const context = await openDevDataSource(args.db);
    try {
      await applyPending(context);
    } finally {
      await context.dataSource.destroy();
    }
  },
});

export const status = defineCommand({
  meta: {
    name: "status",
    description: "Show the dev database: engine, target, running, migrations",
  },
  args: { ...dbArg, json: { type: "boolean", description: "print JSON to stdout" } },
  run: async ({ args }) => {
    const env = await devEnv(args.db);
    const running = env.engine === "embedded" ? await env.embedded.isRunning() : undefined;
    const report: Record<string, unknown> = {
      engine: env.engine,
      why: env.engineReason,
      target: describeConnection(env.connection),
      ...(running === undefined ? {} : { running, data: env.embedded.options.dir }),
    };
    if (running !== false) {
      try {
        const { dataSource } = await openDevDataSource(args.db);
        const states = await migrationStatus(dataSource).finally(() => dataSource.destroy());
        report.reachable = true;
        report.applied = states.filter((s) => s.applied).length;
        report.pending = pendingOf(states).length;
      } catch (error) {
        report.reachable = false;
        report.error = error instanceof Error ? error.message : String(error);
      }
    }
    if (args.json) out.data(JSON.stringify(report, null, 2));
    else
      for (const [key, value] of Object.entries(report))
        out.data(`${`${key}:`.padEnd(11)}${value}`);
    // A server that should answer and does not is worth a non-zero exit to scripts.
    if (report.reachable === false) process.exitCode = EXIT_CODES.connect;
  },
});

export const psql = allowUnknownOptions(
  defineCommand({
    meta: {
      name: "psql",
      description:
        "Open psql on the dev database (arguments after the command, or after --, go to psql)",
    },
    args: { ...dbArg },
    run: async ({ args, rawArgs }) => {
      const env = await devEnv(args.db);
      const passThrough = psqlArguments(rawArgs);
      if (env.engine === "docker") {
        const { user, database } = env.connection;
        await mustSucceed(
          compose("exec", "postgres", "psql", "-U", user, "-d", database, ...passThrough),
          "psql",
        );
        return;
      }
      const { $ } = await import("zx"); // loaded only by the commands that run a program
      if ((await $({ nothrow: true, quiet: true })`command -v psql`).exitCode !== 0) {
        throw new CliError(
          "devServer",
          "psql is not installed (Debian/Ubuntu: apt-get install postgresql-client)",
        );
      }
      if (env.engine === "embedded") await startDevDatabase(env);
      const { host, port, user, database, password } = env.connection;
      // The password travels in PGPASSWORD, never on the command line where `ps` would show it;
      // the SSL settings in PGSSLMODE & co., so psql connects as the toolkit does.
      const result = await $({
        nothrow: true,
        stdio: "inherit",
        env: { ...process.env, PGPASSWORD: password, ...libpqSslEnv(env.connection) },
      })`psql -h ${host} -p ${port} -U ${user} -d ${database} ${passThrough}`;
      if (result.exitCode !== 0) process.exitCode = result.exitCode ?? 1;
    },
  }),
);

/** Everything given to `psql` except the toolkit's own --db option and a separating `--`. */
export function psqlArguments(rawArgs: string[]): string[] {
  const separator = rawArgs.indexOf("--");
  if (separator >= 0) return rawArgs.slice(separator + 1);
  const args: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--db") i++;
    else if (!arg.startsWith("--db=")) args.push(arg);
  }
  return args;
}

export const logs = defineCommand({
  meta: { name: "logs", description: "Show the dev database server log" },
  args: {
    ...dbArg,
    follow: { type: "boolean", alias: "f", description: "keep printing new lines" },
    lines: { type: "string", alias: "n", default: "100", description: "how many recent lines" },
  },
  run: async ({ args }) => {
    const env = await devEnv(args.db);
    requireManaged(env, "logs");
    const lines = String(parseCount(args.lines, "--lines"));
    if (env.engine === "docker") {
      await mustSucceed(
        compose("logs", "--tail", lines, ...(args.follow ? ["--follow"] : [])),
        "docker compose logs",
      );
      return;
    }
    if (!(await Bun.file(env.embedded.logFile).exists())) {
      throw new CliError(
        "devServer",
        "no server log yet: start the dev database with `bun run dev up`",
      );
    }
    const { $ } = await import("zx");
    await $({
      stdio: "inherit",
    })`tail -n ${lines} ${args.follow ? ["-f"] : []} ${env.embedded.logFile}`;
  },
});

function requireManaged(env: DevEnv, command: string): void {
  if (env.engine === "external") {
    throw new CliError(
      "usage",
      `${command} manages the dev database this toolkit runs (embedded or docker); with --db external, manage your server yourself`,
    );
  }
}

async function mustSucceed(
  result: Promise<{ exitCode: number | null }>,
  what: string,
): Promise<void> {
  const { exitCode } = await result;
  if (exitCode !== 0) throw new CliError("devServer", `${what} failed with exit code ${exitCode}`);
}
