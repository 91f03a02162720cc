import { type ArgsDef, type CommandDef, defineCommand } from "citty";
import type { DataSource } from "typeorm";
import type { Checksums } from "../migrate/checksum.ts";
import { MigrateError } from "../migrate/errors.ts";
import type { ExecuteOptions } from "../migrate/executor.ts";
import type { Applier } from "../migrate/ledger.ts";
import { DEFAULT_LOCK_TIMEOUT_MS } from "../migrate/lock.ts";
import type { MigrateLogger } from "../migrate/logger.ts";
import { type MigrationState, migrationStatus, pendingOf, upToDate } from "../migrate/status.ts";
import { parseCount, parseSeconds } from "./args.ts";
import { CliError } from "./errors.ts";
import { EXIT_CODES, STOP_SIGNALS, type StopSignal } from "./exit-codes.ts";
import { out } from "./output.ts";

/**
 * The printing halves of run/show/revert/resolve, shared by `bun run dev migrate:*`, the compiled
 * migrator and (by name) `./manage migrate`, so all print the same thing for the same database.
 * The engine is imported when a command runs: listing these commands (help, `./manage`) must not
 * load TypeORM, and `show`, or a run with nothing to do, reads two tables over a plain connection
 * where the CLI offers one (readStates), without TypeORM at all.
 */

export const progressLogger: MigrateLogger = { info: out.progress, warn: out.warn };

/** What a command needs to touch migrations: the connection and the project's checksums. */
export interface MigrationContext {
  dataSource: DataSource;
  checksums: Checksums;
  applier: Applier;
}

export const showArgs = {
  json: { type: "boolean", description: "print JSON to stdout" },
  "exit-code": {
    type: "boolean",
    description: `exit ${EXIT_CODES.pending} when migrations are pending`,
  },
} as const;

/** Options of every command that changes the database. */
export const changeArgs = {
  "lock-timeout": {
    type: "string",
    default: String(DEFAULT_LOCK_TIMEOUT_MS / 1000),
    description: "seconds to wait for another migrator's lock",
  },
  "accept-changed": {
    type: "string",
    description: "comma-separated applied migrations whose edited source you accept",
  },
} as const;

export const dryRunArg = {
  "dry-run": {
    type: "boolean",
    description: "print the SQL it would run, inside a transaction that is rolled back",
  },
} as const;

/** Of run and revert: the data-loss gate's override. */
export const allowDataLossArg = {
  "allow-data-loss": {
    type: "boolean",
    description: `run migrations that would lose data although they give no reason (otherwise exit ${EXIT_CODES.dataLoss})`,
  },
} as const;

interface ChangeFlags {
  "lock-timeout"?: string;
  "accept-changed"?: string;
  "dry-run"?: boolean;
  "allow-data-loss"?: boolean;
}

/**
 * SIGINT and SIGTERM, and the death of the parent process (`kill -9` of `bun run dev` leaves its
 * child running: it must not go on and commit), stop a run or revert: the engine cancels the
 * running statement and rolls its migration back. Outside the engine's work there is nothing to
 * roll back, and the signal ends the process at once.
 */
function stopOnSignals(): { signal: AbortSignal; during<T>(work: () => Promise<T>): Promise<T> } {
  const controller = new AbortController();
  let working = false;
  const stop = (name: StopSignal) => {
    if (controller.signal.aborted) return;
    controller.abort(name);
    if (!working) process.exit(EXIT_CODES[STOP_SIGNALS[name]]);
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const parent = process.ppid;
  const orphaned = setInterval(() => {
    if (process.ppid !== parent) stop("SIGTERM");
  }, 200);
  orphaned.unref();
  return {
    signal: controller.signal,
    async during(work) {
      working = true;
      try {
        return await work();
      } finally {
        working = false;
        clearInterval(orphaned);
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
      }
    },
  };
}

/** The flags every changing command shares, checked before anything connects. */
function changeFlags(flags: ChangeFlags): { lockTimeoutMs: number; acceptChanged: string[] } {
  const raw = flags["lock-timeout"];
  if (raw !== undefined && String(raw).trim() === "") {
    throw new MigrateError("usage", "--lock-timeout needs a number of seconds");
  }
  const seconds = parseSeconds(raw ?? DEFAULT_LOCK_TIMEOUT_MS / 1000, "--lock-timeout");
  const acceptChanged = (flags["accept-changed"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (flags["accept-changed"] !== undefined && acceptChanged.length === 0) {
    throw new MigrateError("usage", "--accept-changed needs the name of an applied migration");
  }
  return { lockTimeoutMs: seconds * 1000, acceptChanged };
}

function executeOptions(context: MigrationContext, flags: ChangeFlags): ExecuteOptions {
  const options: ExecuteOptions = {
    logger: progressLogger,
    checksums: context.checksums,
    applier: context.applier,
    ...changeFlags(flags),
    dryRun: Boolean(flags["dry-run"]),
    allowDataLoss: Boolean(flags["allow-data-loss"]),
  };
  if (options.dryRun) {
    let current = "";
    options.onStatement = (migration, sql, parameters) => {
      if (migration !== current) out.data(`-- ${migration}`);
      current = migration;
      out.data(
        `${sql.trim()};${parameters?.length ? ` -- parameters: ${JSON.stringify(parameters)}` : ""}`,
      );
    };
  }
  return options;
}

export async function printStatus(
  context: MigrationContext,
  options: { json?: boolean; exitCode?: boolean },
): Promise<void> {
  printStates(await migrationStatus(context.dataSource, context.checksums), options);
}

export function printStates(
  states: readonly MigrationState[],
  options: { json?: boolean; exitCode?: boolean },
): void {
  const pending = pendingOf(states).length;
  if (options.json) {
    const report = { migrations: states, applied: states.length - pending, pending };
    out.data(JSON.stringify(report, null, 2));
  } else {
    const width = Math.max(0, ...states.map((s) => s.name.length));
    for (const state of states) out.data(statusLine(state, width));
    out.progress(`${states.length - pending} applied, ${pending} pending`);
  }
  if (options.exitCode && pending > 0) {
    throw new CliError("pending", `${pending} migration(s) pending`);
  }
}

/** `[X] Name  2026-11-25 19:20:01Z  15 ms  migrator 0.1.0 on host` */
export function statusLine(state: MigrationState, width: number): string {
  const mark = `${state.applied ? "[X]" : state.unfinished ? "[!]" : "[ ]"} ${state.name}`;
  if (state.unfinished) {
    return `${mark.padEnd(width + 4)}  STARTED, DID NOT FINISH (transaction = false): see migrate:resolve`;
  }
  if (!state.applied) return mark;
  const details: string[] = [];
  const by = state.tool ? `${state.tool}${state.appliedBy ? ` on ${state.appliedBy}` : ""}` : "";
  if (state.adopted) details.push(`applied before the ledger${by ? `; adopted by ${by}` : ""}`);
  else if (state.appliedAt) details.push(state.appliedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"));
  if (state.durationMs !== null) details.push(`${state.durationMs} ms`);
  if (by && !state.adopted) details.push(by);
  if (state.checksum === "changed") details.push("SOURCE CHANGED SINCE APPLIED");
  if (state.missingFromSource) details.push("file missing from migrations/");
  return `${mark.padEnd(width + 4)}  ${details.join("  ")}`;
}

export async function applyPending(
  context: MigrationContext,
  flags: ChangeFlags & { json?: boolean } = {},
) {
  const { runMigrations } = await import("../migrate/run.ts");
  const stop = stopOnSignals();
  const { applied } = await withPartialJson(flags.json, "applied", () =>
    stop.during(() =>
      runMigrations(context.dataSource, { ...executeOptions(context, flags), signal: stop.signal }),
    ),
  );
  reportApplied(applied, flags);
}

function reportApplied(
  applied: readonly unknown[],
  flags: { json?: boolean; "dry-run"?: boolean },
) {
  if (flags.json) out.data(JSON.stringify({ applied }, null, 2));
  if (applied.length === 0) out.success("Nothing to run: the database is up to date");
  else if (flags["dry-run"])
    out.success(`Dry run: ${applied.length} migration(s) ran and were rolled back`);
  else out.success(`${applied.length} migration(s) applied`);
}

/** Reverts the last `steps` migrations, newest first. */
export async function revertSteps(
  context: MigrationContext,
  steps: number,
  flags: ChangeFlags & { json?: boolean } = {},
): Promise<void> {
  const { revertMigrations } = await import("../migrate/revert.ts");
  const stop = stopOnSignals();
  const { reverted } = await withPartialJson(flags.json, "reverted", () =>
    stop.during(() =>
      revertMigrations(context.dataSource, steps, {
        ...executeOptions(context, flags),
        signal: stop.signal,
      }),
    ),
  );
  if (reverted.length < steps)
    out.warn(`only ${reverted.length} migration(s) were applied; all of them are reverted`);
  if (flags.json) out.data(JSON.stringify({ reverted }, null, 2));
  if (flags["dry-run"])
    out.success(`Dry run: ${reverted.length} migration(s) reverted and rolled back`);
}

/**
 * With --json, a failure still prints what was done before it (it stays done), and the error, so
 * a script reading stdout learns the state without parsing stderr.
 */
async function withPartialJson<T>(
  json: boolean | undefined,
  key: "applied" | "reverted",
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (json && error instanceof MigrateError) {
      const done = key === "reverted" ? error.done.map((d) => d.name) : error.done;
      out.data(
        JSON.stringify(
          { [key]: done, error: { kind: error.kind, message: error.message } },
          null,
          2,
        ),
      );
    }
    throw error;
  }
}

export const resolveArgs = {
  applied: { type: "string", description: "record this migration as applied, without running it" },
  "rolled-back": {
    type: "string",
    description: "record this migration as not applied, without running its down()",
  },
} as const;

export async function resolve(
  context: MigrationContext,
  flags: ChangeFlags & { applied?: string; "rolled-back"?: string },
) {
  const { applied, "rolled-back": rolledBack } = flags;
  if (Boolean(applied) === Boolean(rolledBack)) {
    throw new CliError("usage", "give exactly one of --applied <Name> or --rolled-back <Name>");
  }
  const change = applied ? { applied } : { rolledBack: rolledBack as string };
  const { resolveMigration } = await import("../migrate/resolve.ts");
  await resolveMigration(context.dataSource, change, executeOptions(context, flags));
  out.success(
    applied
      ? `recorded ${applied} as applied (it was not run)`
      : `recorded ${rolledBack} as rolled back (its down() was not run)`,
  );
}

function showOptions(args: Record<string, unknown>) {
  return { json: Boolean(args.json), exitCode: Boolean(args["exit-code"]) };
}

const jsonArg = { json: { type: "boolean", description: "print the result as JSON" } } as const;

/** Runs `work` on the context being opened, and always closes its connection. */
export async function withContext<T>(
  opening: Promise<MigrationContext>,
  work: (context: MigrationContext) => Promise<T>,
): Promise<T> {
  const context = await opening;
  try {
    return await work(context);
  } finally {
    await context.dataSource.destroy();
  }
}

/** How a CLI reaches the database: its own options, and how to open a context from them. */
export interface MigrationConnection {
  args: ArgsDef;
  open(args: Record<string, unknown>): Promise<MigrationContext>;
  /** Command name prefix: `migrate:` for the dev CLI, none for the migrator. */
  prefix: string;
  /**
   * Reads the migrations' states over a plain connection, without opening a DataSource: then
   * `show`, and `run` when there is nothing to do, load no TypeORM.
   */
  readStates?(args: Record<string, unknown>): Promise<MigrationState[]>;
}

interface MigrationCommandSpec {
  description: string;
  args: ArgsDef;
  work(context: MigrationContext, args: Record<string, unknown>): Promise<void>;
  /** Answers without a DataSource when the CLI can read states plainly: true when it did. */
  quick?(connection: MigrationConnection, args: Record<string, unknown>): Promise<boolean>;
}

/**
 * run, show, revert and resolve, defined once for every CLI: the dev CLI and the migrator differ
 * only in how they connect (dev database engine vs. waiting for a production database). A command
 * added here is in `bun run dev migrate:…`, `migrator …` and `./manage migrate …` at once.
 */
const MIGRATION_COMMANDS = {
  run: {
    description:
      "Apply every pending migration, each in its own transaction, under the migration lock",
    args: { ...changeArgs, ...dryRunArg, ...allowDataLossArg, ...jsonArg },
    work: (context, args) => applyPending(context, args as ChangeFlags & { json?: boolean }),
    // Nothing pending, adopted, unfinished or edited: the answer needs no lock and no TypeORM. A
    // dry run or an acceptance goes the whole way (it has something to print or record).
    quick: async (connection, args) => {
      changeFlags(args as ChangeFlags); // a bad flag is refused even when there is nothing to do
      if (!connection.readStates || args["dry-run"] || args["accept-changed"]) return false;
      const states = await connection.readStates(args).catch((error: unknown) => {
        // The whole way reports what it finds first (a broken migration file before an
        // unreachable database), as it always has.
        if (error instanceof CliError && error.kind === "connect") return undefined;
        throw error;
      });
      if (!states || !upToDate(states)) return false;
      reportApplied([], args);
      return true;
    },
  },
  show: {
    description: "List migrations: [X] applied (when, how long, by what), [ ] pending",
    args: showArgs,
    work: (context, args) => printStatus(context, showOptions(args)),
    quick: async (connection, args) => {
      if (!connection.readStates) return false;
      printStates(await connection.readStates(args), showOptions(args));
      return true;
    },
  },
  revert: {
    description: "Revert the most recently applied migration(s), newest first (runs down())",
    args: {
      steps: { type: "string", default: "1", description: "how many migrations to revert" },
      ...changeArgs,
      ...dryRunArg,
      ...allowDataLossArg,
      ...jsonArg,
    },
    work: (context, args) =>
      revertSteps(
        context,
        parseCount(args.steps ?? 1, "--steps", 1),
        args as ChangeFlags & { json?: boolean },
      ),
  },
  resolve: {
    description:
      "Record a migration as applied or rolled back without running it (instead of editing the migrations table)",
    args: { ...resolveArgs, ...changeArgs },
    work: (context, args) =>
      resolve(context, args as ChangeFlags & { applied?: string; "rolled-back"?: string }),
  },
} satisfies Record<string, MigrationCommandSpec>;

export type MigrationCommandName = keyof typeof MIGRATION_COMMANDS;

/** The shared commands' names (without a CLI's prefix), known without loading the engine. */
export const MIGRATION_COMMAND_NAMES = Object.keys(MIGRATION_COMMANDS) as MigrationCommandName[];

/** The shared commands as one CLI offers them: its connection options and its name prefix. */
export function migrationCommands(
  connection: MigrationConnection,
): Record<MigrationCommandName, CommandDef> {
  const commands = Object.entries(MIGRATION_COMMANDS).map(([name, spec]) => {
    const command = defineCommand({
      meta: { name: `${connection.prefix}${name}`, description: spec.description },
      args: { ...connection.args, ...spec.args },
      run: async ({ args }) => {
        const quick = (spec as MigrationCommandSpec).quick;
        if (quick && (await quick(connection, args))) return;
        await withContext(connection.open(args), (context) => spec.work(context, args));
      },
    });
    return [name, command as CommandDef] as const;
  });
  return Object.fromEntries(commands) as Record<MigrationCommandName, CommandDef>;
}
