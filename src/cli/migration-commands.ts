import type { DataSource } from "typeorm";
import { EXIT_CODES, MigrateError } from "../migrate/errors.ts";
import type { MigrateLogger } from "../migrate/logger.ts";
import { revertLast } from "../migrate/revert.ts";
import { runMigrations } from "../migrate/run.ts";
import { migrationStatus, pendingOf } from "../migrate/status.ts";
import { out } from "./output.ts";

/**
 * The printing halves of run/show/revert, shared by `bun run dev migrate:*` and the compiled
 * migrator so both print the same thing for the same database.
 */

export const progressLogger: MigrateLogger = { info: out.progress, warn: out.warn };

export const showArgs = {
  json: { type: "boolean", description: "print JSON to stdout" },
  "exit-code": {
    type: "boolean",
    description: `exit ${EXIT_CODES.pending} when migrations are pending`,
  },
} as const;

export async function printStatus(
  dataSource: DataSource,
  options: { json?: boolean; exitCode?: boolean },
): Promise<void> {
  const states = await migrationStatus(dataSource);
  const pending = pendingOf(states).length;
  if (options.json) {
    const report = { migrations: states, applied: states.length - pending, pending };
    out.data(JSON.stringify(report, null, 2));
  } else {
    for (const state of states) {
      const note = state.missingFromSource
        ? "   (applied, but its file is missing from migrations/)"
        : "";
      out.data(`${state.applied ? "[X]" : "[ ]"} ${state.name}${note}`);
    }
    out.progress(`${states.length - pending} applied, ${pending} pending`);
  }
  if (options.exitCode && pending > 0) {
    throw new MigrateError("pending", `${pending} migration(s) pending`);
  }
}

export async function applyPending(
  dataSource: DataSource,
  options: { json?: boolean } = {},
): Promise<void> {
  const { applied } = await runMigrations(dataSource, progressLogger);
  if (options.json) out.data(JSON.stringify({ applied }, null, 2));
  if (applied.length === 0) out.success("Nothing to run: the database is up to date");
  for (const name of applied) out.success(`applied ${name}`);
}

/** Reverts the last `steps` migrations, newest first; stops early when none are left. */
export async function revertSteps(
  dataSource: DataSource,
  steps: number,
  options: { json?: boolean } = {},
): Promise<void> {
  const reverted: string[] = [];
  for (let i = 0; i < steps; i++) {
    if (i > 0 && !(await migrationStatus(dataSource)).some((m) => m.applied)) break;
    reverted.push((await revertLast(dataSource)).reverted);
    out.success(`reverted ${reverted.at(-1)}`);
  }
  if (reverted.length < steps)
    out.warn(`only ${reverted.length} migration(s) were applied; all of them are reverted`);
  if (options.json) out.data(JSON.stringify({ reverted }, null, 2));
}

export function parseSteps(value: unknown): number {
  const steps = Number(value ?? 1);
  if (!Number.isInteger(steps) || steps < 1) {
    throw new MigrateError(
      "usage",
      `--steps must be a whole number of at least 1 (got "${value}")`,
    );
  }
  return steps;
}
