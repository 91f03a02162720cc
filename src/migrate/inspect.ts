import type { DataSource, QueryRunner } from "typeorm";
import { type Catalog, catalogDiff } from "./catalog.ts";
import { CatalogTracker } from "./catalog-tracker.ts";
import { type Checksums, type SourceMigration, sourceMigrations } from "./checksum.ts";
import {
  applyOne,
  type ExecuteOptions,
  firstLine,
  prepareRunner,
  revertOne,
  transactional,
} from "./executor.ts";

/** What one migration did on a scratch database, up and down. */
export interface Inspection {
  name: string;
  /** Every statement up() ran, in order. */
  up: string[];
  /** Every statement down() ran; empty means down() does nothing. */
  down: string[];
  /** The schema after up() then down() equals the schema before up(). */
  restored: boolean;
  /** How the schema after down() differs from before up() (`-` lost, `+` left over). */
  difference: string[];
  /** up() or down() threw (or up() threw when run again after down()): the first line of the error. */
  error?: string;
  /** Something verify could not check, and why (not a failure). */
  note?: string;
}

/** PostgreSQL's "tables can have at most 1600 columns" (too_many_columns). */
const TOO_MANY_COLUMNS = "54011";

/**
 * Applies every migration to an empty database one at a time, capturing its SQL, and checks that
 * its down() restores the schema and that up() runs again after it: up (kept), then down, compare
 * with the schema before up, and up again inside a transaction that is rolled back. The rollback
 * leaves the database exactly as up() left it for the next migration, whatever down() did, and
 * spends no column slots: PostgreSQL never reuses a dropped column's slot (1600 per table), so a
 * committed up, down, up would allow half the add-column migrations a real table takes. The
 * catalog is read twice per migration, after up() (the next migration's "before") and after
 * down(), each time only what changed (CatalogTracker), so the cost grows with the number of
 * migrations, not with the number of migrations times the size of the schema.
 * Stops at a migration whose up() fails: the ones after it expect its schema.
 */
export async function inspectMigrations(
  dataSource: DataSource,
  checksums: Checksums = {},
): Promise<Inspection[]> {
  const runner = await prepareRunner(dataSource);
  const results: Inspection[] = [];
  try {
    const migrations = sourceMigrations(dataSource, checksums).sort(
      (a, b) => a.timestamp - b.timestamp,
    );
    const tracker = await CatalogTracker.open(runner);
    let before = tracker.catalog;
    for (const migration of migrations) {
      const result: Inspection = {
        name: migration.name,
        up: [],
        down: [],
        restored: false,
        difference: [],
      };
      results.push(result);
      try {
        await applyOne(runner, dataSource, migration, capture(checksums, result.up));
      } catch (error) {
        result.error = `up() failed: ${reason(error)}`;
        break;
      }
      const afterUp = await tracker.refresh();
      const upState = tracker.state;
      const step = { runner, tracker, dataSource, migration, checksums, before, result };
      if (transactional(migration)) {
        await runner.startTransaction();
        try {
          await downThenUp(step);
        } finally {
          await runner.rollbackTransaction();
          tracker.restore(upState);
        }
        before = afterUp;
        continue;
      }
      // `transaction = false` (CREATE INDEX CONCURRENTLY) cannot run inside a transaction: down
      // and up again are committed, so the next migration starts from whatever they left.
      const afterDown = await downThenUp(step);
      if (result.restored && (result.error || result.note)) {
        // up() did not run again: the schema is as before up(), not what the next one expects.
        result.error ??= `${result.note}; later migrations were not inspected`;
        break;
      }
      if (afterDown && !result.restored && catalogDiff(afterUp, afterDown).length > 0) {
        // down() undid part of up(): neither state is one the next migration expects.
        result.error = "down() undid only part of up(); later migrations were not inspected";
        break;
      }
      before = await tracker.refresh();
    }
  } finally {
    await runner.release();
  }
  return results;
}

interface Step {
  runner: QueryRunner;
  tracker: CatalogTracker;
  dataSource: DataSource;
  migration: SourceMigration;
  checksums: Checksums;
  /** The catalog before up(). */
  before: Catalog;
  result: Inspection;
}

/**
 * down(), compared with the schema before up(), then up() again if down() restored it. Every
 * failure becomes the migration's finding. Returns the catalog after down() (none if it threw).
 */
async function downThenUp(step: Step): Promise<Catalog | undefined> {
  const { runner, tracker, dataSource, migration, checksums, result } = step;
  try {
    await revertOne(runner, dataSource, migration, capture(checksums, result.down));
  } catch (error) {
    result.error = `down() failed: ${reason(error)}`;
    return undefined;
  }
  const afterDown = await tracker.refresh();
  result.difference = catalogDiff(step.before, afterDown);
  result.restored = result.difference.length === 0;
  if (!result.restored) return afterDown;
  try {
    await applyOne(runner, dataSource, migration, { checksums });
  } catch (error) {
    if (sqlState(error) === TOO_MANY_COLUMNS) {
      // A real database could not re-apply it after a revert either; the migration is not at fault.
      result.note = `up() not run again after down(): ${reason(error)} (PostgreSQL counts dropped columns)`;
    } else result.error = `up() after down() failed: ${reason(error)}`;
  }
  return afterDown;
}

function capture(checksums: Checksums, into: string[]): ExecuteOptions {
  return { checksums, onStatement: (_m, sql) => into.push(sql.trim()) };
}

function reason(error: unknown): string {
  return firstLine((error as Error).cause ?? error);
}

/** The SQLSTATE of a failed statement (TypeORM copies the driver's `code` onto its error). */
function sqlState(error: unknown): string | undefined {
  const cause = (error as { cause?: unknown }).cause ?? error;
  return (cause as { code?: string }).code;
}
