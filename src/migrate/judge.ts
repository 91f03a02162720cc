import type { DataSource, QueryRunner } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { type Catalog, type CatalogChange, catalogChanges, readCatalog } from "./catalog.ts";
import { type RecordSchema, recordSchema } from "./shadow.ts";

/**
 * The judge of generate and check: the record's schema is the catalog PostgreSQL builds from the
 * entities; the migrations' schema is the catalog of a database they were applied to (the shadow,
 * or the dev database). They agree when the catalogs are equal, whatever TypeORM's diff says.
 */
export interface Judgement {
  record: RecordSchema;
  migrations: Catalog;
  /** left: what the record has, right: what the migrations have. */
  changes: CatalogChange[];
}

export async function judgeSchema(
  base: PostgresDataSourceOptions,
  entities: DataSource,
  migrated: DataSource | QueryRunner,
): Promise<Judgement> {
  const [record, migrations] = await Promise.all([
    recordSchema(base, entities),
    readCatalog(migrated),
  ]);
  return { record, migrations, changes: recordChanges(record.catalog, migrations) };
}

/**
 * How the migrations' catalog differs from the record's. An extension only the migrations have
 * does not count: a migration may create one for its own SQL, and entities cannot declare one.
 */
export function recordChanges(record: Catalog, migrations: Catalog): CatalogChange[] {
  return catalogChanges(record, migrations).filter(
    (c) => !(c.key.startsWith("extension ") && c.left === undefined),
  );
}
