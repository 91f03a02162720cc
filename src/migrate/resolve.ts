import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";
import { type ExecuteOptions, markApplied, markReverted, withLockedRunner } from "./executor.ts";
import { defaultApplier, forget, readLedger } from "./ledger.ts";

/**
 * Records a migration as applied or as rolled back without running it: for when its changes were
 * made (or undone) by hand. Replaces editing the `migrations` table directly, keeping the
 * ledger consistent with it.
 */
export async function resolveMigration(
  dataSource: DataSource,
  change: { applied: string } | { rolledBack: string },
  options: ExecuteOptions = {},
): Promise<void> {
  await withLockedRunner(
    dataSource,
    { ...options, resolving: true },
    async (runner, source, applied) => {
      const isApplied = (name: string) => applied.some((row) => row.name === name);
      const known = [...source.map((m) => m.name), ...applied.map((row) => row.name)];
      const wanted: { applied: string } | { rolledBack: string } =
        "applied" in change
          ? { applied: fullName(change.applied, known) }
          : { rolledBack: fullName(change.rolledBack, known) };
      if ("applied" in wanted) {
        const migration = source.find((m) => m.name === wanted.applied);
        if (!migration)
          throw new MigrateError("usage", `no migration named ${wanted.applied} in migrations/`);
        if (isApplied(migration.name))
          throw new MigrateError("nothingToDo", `${migration.name} is already applied`);
        const applier = options.applier ?? defaultApplier();
        await runner.startTransaction();
        await markApplied(runner, dataSource, migration, null, {
          ...applier,
          tool: `${applier.tool} resolve`,
        });
        await runner.commitTransaction();
        return;
      }
      const name = wanted.rolledBack;
      if (!isApplied(name)) {
        // A transaction = false migration that did not finish: its ledger row is all there is.
        const entry = (await readLedger(runner)).get(name);
        if (!entry?.unfinished) throw new MigrateError("nothingToDo", `${name} is not applied`);
        await forget(runner, name);
        return;
      }
      await runner.startTransaction();
      await markReverted(runner, dataSource, name);
      await runner.commitTransaction();
    },
  );
}

/**
 * The class name a migration is recorded under (`AddTags1800000000000`) for the name it was
 * generated with (`AddTags`), when exactly one migration has it; otherwise the name as given.
 */
function fullName(name: string, known: readonly string[]): string {
  if (known.includes(name)) return name;
  if (!/^\w+$/.test(name)) return name;
  const matches = [...new Set(known.filter((k) => new RegExp(`^${name}\\d{13}$`).test(k)))];
  return matches.length === 1 ? (matches[0] as string) : name;
}
