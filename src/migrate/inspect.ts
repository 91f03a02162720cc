import type { DataSource } from "typeorm";
import { catalogDiff, readCatalog } from "./catalog.ts";
import { type Checksums, sourceMigrations } from "./checksum.ts";
import { applyOne, type ExecuteOptions, firstLine, prepareRunner, revertOne } from "./executor.ts";

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
  /** up() or down() threw: the first line of the error. */
  error?: string;
}

/**
 * Applies every migration to an empty database one at a time, capturing its SQL, and checks that
 * its down() restores the schema: read the catalog, up, down, read it again, compare, then up again so
 * the next migration starts from the right schema. Stops at a migration whose up() fails.
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
    for (const migration of migrations) {
      const result: Inspection = {
        name: migration.name,
        up: [],
        down: [],
        restored: false,
        difference: [],
      };
      results.push(result);
      const capture = (into: string[]): ExecuteOptions => ({
        checksums,
        onStatement: (_m, sql) => into.push(sql.trim()),
      });
      const before = await readCatalog(runner);
      try {
        await applyOne(runner, dataSource, migration, capture(result.up));
      } catch (error) {
        result.error = `up() failed: ${firstLine((error as Error).cause ?? error)}`;
        break;
      }
      const afterUp = await readCatalog(runner);
      try {
        await revertOne(runner, dataSource, migration, capture(result.down));
      } catch (error) {
        result.error = `down() failed: ${firstLine((error as Error).cause ?? error)}`;
        continue; // rolled back: the database is as up() left it, ready for the next migration
      }
      const afterDown = await readCatalog(runner);
      result.difference = catalogDiff(before, afterDown);
      result.restored = result.difference.length === 0;
      if (result.restored) await applyOne(runner, dataSource, migration, { checksums });
      else if (catalogDiff(afterUp, afterDown).length > 0) {
        // down() undid part of up(): neither state is one the next migration expects.
        result.error = "down() undid only part of up(); later migrations were not inspected";
        break;
      }
      // down() changed nothing: the schema is still as up() left it, ready for the next migration.
    }
  } finally {
    await runner.release();
  }
  return results;
}
