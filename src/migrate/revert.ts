import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";
import { firstLine } from "./run.ts";
import { migrationStatus } from "./status.ts";

export interface RevertResult {
  reverted: string;
}

/** Reverts the most recently applied migration by running its down() in a transaction. */
export async function revertLast(dataSource: DataSource): Promise<RevertResult> {
  const applied = (await migrationStatus(dataSource)).filter((m) => m.applied);
  const last = applied.at(-1);
  if (!last)
    throw new MigrateError("nothingToDo", "nothing to revert: no migration has been applied");
  if (last.missingFromSource) {
    throw new MigrateError(
      "migrationFailed",
      `cannot revert ${last.name}: it is applied but its file is not in migrations/ (restore the file first)`,
    );
  }
  try {
    await dataSource.undoLastMigration({ transaction: "each" });
  } catch (error) {
    throw new MigrateError(
      "migrationFailed",
      `reverting ${last.name} failed and was rolled back: ${firstLine(error)}`,
      {
        cause: error,
      },
    );
  }
  return { reverted: last.name };
}
