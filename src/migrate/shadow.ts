import { randomBytes } from "node:crypto";
import pg from "pg";
import { DataSource } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { type Catalog, readCatalog } from "./catalog.ts";
import { type Checksums, sourceMigrations } from "./checksum.ts";
import { asConnectError, queryable } from "./connect.ts";
import { MigrateError } from "./errors.ts";
import { applyOne, type ExecuteOptions, firstLine, prepareRunner } from "./executor.ts";

/**
 * Throwaway databases on the configured server (the embedded dev server by default), so that
 * generating and checking never depend on the dev database being up to date.
 *
 * The shadow: a database with every migration applied, named after the checksums of the
 * migrations, and kept until they change, so a warm generate only diffs. The record database:
 * the entities synchronized, named after their metadata, kept the same way. Scratch databases:
 * empty, for inspections that run migrations up and down, dropped afterwards.
 */
const SHADOW_PREFIX = "backupctl_shadow_";
const SCRATCH_PREFIX = "backupctl_scratch_";
const RECORD_PREFIX = "backupctl_record_";

function pgClient(base: PostgresDataSourceOptions, database: string): pg.Client {
  return new pg.Client({
    host: base.host,
    port: base.port,
    user: base.username,
    password: typeof base.password === "string" ? base.password : undefined,
    database,
    application_name: "backupctl-shadow",
    // the TLS the user asked for (sslmode): the shadow and scratch databases are on the same server
    ssl: base.ssl as pg.ClientConfig["ssl"],
  });
}

async function admin<T>(
  base: PostgresDataSourceOptions,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = pgClient(base, "postgres");
  try {
    await client.connect();
  } catch (error) {
    throw asConnectError(error, { ...base, database: "postgres" });
  }
  try {
    return await work(client);
  } catch (error) {
    if ((error as { code?: string }).code === "42501") {
      throw new MigrateError(
        "usage",
        `the user ${base.username} may not create databases, which the shadow and scratch databases need: grant it CREATEDB (migrate:generate can also diff against the dev database: --against dev)`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    await client.end();
  }
}

async function open(base: PostgresDataSourceOptions, database: string): Promise<DataSource> {
  const dataSource = new DataSource({ ...base, database, logging: false, logger: undefined });
  await dataSource.initialize();
  return dataSource;
}

/** Named after the migrations' names and checksums: a new or edited migration means a new shadow. */
function shadowName(checksums: Checksums): string {
  const key = JSON.stringify(Object.entries(checksums).sort(([a], [b]) => a.localeCompare(b)));
  return `${SHADOW_PREFIX}${hash(key)}`;
}

export interface Shadow {
  dataSource: DataSource;
  database: string;
  /** True when an existing shadow for these exact migrations was reused. */
  warm: boolean;
}

/** Opens (building it first when needed) the shadow database for the current migrations. */
export async function openShadow(
  base: PostgresDataSourceOptions,
  checksums: Checksums,
  options: ExecuteOptions = {},
): Promise<Shadow> {
  return rebuiltIfDropped(async () => {
    const { database, warm } = await cachedDatabase(base, shadowName(checksums), (dataSource) =>
      migrateAll(dataSource, checksums, options),
    );
    return { dataSource: await open(base, database), database, warm };
  });
}

/**
 * Another toolkit on the same server, with other migrations or another record, drops the cached
 * databases it takes for stale (never one in use): if that happened between finding this one and
 * opening it, it is built again, once.
 */
async function rebuiltIfDropped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
    return work();
  }
}

/**
 * The database named `name` (prefix + hash of what it is built from), built by `build` when it
 * does not exist yet. Databases with the same prefix and another hash are stale and dropped.
 */
async function cachedDatabase(
  base: PostgresDataSourceOptions,
  database: string,
  build: (dataSource: DataSource) => Promise<void>,
): Promise<{ database: string; warm: boolean }> {
  const prefix = database.replace(/[0-9a-f]{16}$/, "");
  const exists = await admin(base, async (client) => {
    const found = await client.query("SELECT datname FROM pg_database WHERE datname LIKE $1", [
      `${prefix}%`,
    ]);
    // Databases of older migration sets or records are stale: drop them, but never one in use (no FORCE).
    for (const row of found.rows as { datname: string }[]) {
      if (row.datname !== database) {
        await client
          .query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(row.datname)}`)
          .catch(() => undefined);
      }
    }
    return found.rows.some((row: { datname: string }) => row.datname === database);
  });
  if (exists) return { database, warm: true };
  // Built under a scratch name and renamed when complete, so a half-built database is never used.
  const building = await createScratch(base);
  try {
    const dataSource = await open(base, building);
    try {
      await build(dataSource);
    } finally {
      await dataSource.destroy();
    }
  } catch (error) {
    await admin(base, (client) =>
      client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(building)} WITH (FORCE)`),
    );
    throw error;
  }
  await admin(base, async (client) => {
    try {
      await client.query(
        `ALTER DATABASE ${client.escapeIdentifier(building)} RENAME TO ${client.escapeIdentifier(database)}`,
      );
    } catch (error) {
      // Another process built the same database meanwhile: use theirs.
      if ((error as { code?: string }).code !== "42P04") throw error;
      await client.query(
        `DROP DATABASE IF EXISTS ${client.escapeIdentifier(building)} WITH (FORCE)`,
      );
    }
  });
  return { database, warm: false };
}

export interface RecordSchema {
  /** The catalog PostgreSQL builds from the record (the entities, synchronized). */
  catalog: Catalog;
  database: string;
  /** True when the record database of this exact record was reused. */
  warm: boolean;
}

/**
 * The schema the record describes, as PostgreSQL builds it: the entities synchronized into a
 * database of their own, named after a hash of the entity metadata and kept while it stays the
 * same (like the shadow), then read by the catalog reader.
 */
export async function recordSchema(
  base: PostgresDataSourceOptions,
  entities: DataSource,
): Promise<RecordSchema> {
  const database = `${RECORD_PREFIX}${hash(recordKey(entities))}`;
  const withEntities = { ...base, entities: entities.options.entities ?? [] };
  return rebuiltIfDropped(async () => {
    const { warm } = await cachedDatabase(withEntities, database, synchronizeRecord);
    const client = pgClient(base, database);
    await client.connect();
    try {
      const catalog = await readCatalog(queryable(client));
      return { catalog, database, warm };
    } finally {
      await client.end();
    }
  });
}

/** Functions of extensions that entities name in defaults, by the extension that provides them. */
const EXTENSION_FUNCTIONS: Record<string, string> = {
  uuid_generate_v1: "uuid-ossp",
  uuid_generate_v4: "uuid-ossp",
  gen_random_bytes: "pgcrypto",
  crypt: "pgcrypto",
};

/**
 * Synchronizes the entities. The connection installs nothing, so a type or function the record
 * needs from an extension (citext, uuid_generate_v4()) fails the first time: that extension is
 * then created, and the catalog lists it, so generate writes it into the migration.
 */
async function synchronizeRecord(dataSource: DataSource): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await dataSource.synchronize();
      return;
    } catch (error) {
      const message = firstLine(error);
      const wanted =
        /type "(?:public\.)?([\w-]+)" does not exist/.exec(message)?.[1] ??
        EXTENSION_FUNCTIONS[/function (?:public\.)?(\w+)\(/.exec(message)?.[1] ?? ""];
      const available: unknown[] = wanted
        ? await dataSource.query("SELECT 1 FROM pg_available_extensions WHERE name = $1", [wanted])
        : [];
      if (attempt >= 5 || available.length === 0) {
        throw new MigrateError("usage", `PostgreSQL cannot build the record's schema: ${message}`, {
          cause: error,
        });
      }
      await dataSource.query(`CREATE EXTENSION IF NOT EXISTS "${wanted}"`);
    }
  }
}

/**
 * What the record database is built from: every entity's metadata (table, columns, indices,
 * uniques, checks, exclusions, foreign keys), as their own plain values. Functions (defaults,
 * view expressions, the entity class) count by their source text.
 */
function recordKey(dataSource: DataSource): string {
  const plain = (value: object | undefined) =>
    Object.fromEntries(
      Object.entries(value ?? {}).flatMap(([k, v]): [string, unknown][] => {
        if (typeof v === "function") return [[k, String(v)]];
        if (v === null || typeof v !== "object") return [[k, v]];
        if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object"))
          return [[k, v]];
        return [];
      }),
    );
  const names = (columns: { databaseName: string }[]) => columns.map((c) => c.databaseName);
  return JSON.stringify({
    typeorm: "1",
    driver: plain({
      uuidExtension: (dataSource.options as PostgresDataSourceOptions).uuidExtension,
    }),
    entities: dataSource.entityMetadatas.map((m) => ({
      ...plain(m),
      columns: m.columns.map((c) => ({ ...plain(c), enum: c.enum, default: String(c.default) })),
      indices: m.indices.map((i) => ({ ...plain(i), columns: names(i.columns) })),
      uniques: m.uniques.map((u) => ({ ...plain(u), columns: names(u.columns) })),
      checks: m.checks.map(plain),
      exclusions: m.exclusions.map(plain),
      foreignKeys: m.foreignKeys.map((f) => ({
        ...plain(f),
        columns: names(f.columns),
        referenced: [f.referencedTablePath, ...names(f.referencedColumns)],
      })),
    })),
  });
}

function hash(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex").slice(0, 16);
}

async function createScratch(base: PostgresDataSourceOptions): Promise<string> {
  const name = `${SCRATCH_PREFIX}${randomBytes(6).toString("hex")}`;
  await admin(base, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  return name;
}

/** An empty database on the configured server for `work`, dropped afterwards. */
export async function withScratchDatabase<T>(
  base: PostgresDataSourceOptions,
  work: (dataSource: DataSource) => Promise<T>,
): Promise<T> {
  const name = await createScratch(base);
  try {
    const dataSource = await open(base, name);
    try {
      return await work(dataSource);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await admin(base, (client) =>
      client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
    );
  }
}

async function migrateAll(
  dataSource: DataSource,
  checksums: Checksums,
  options: ExecuteOptions,
): Promise<void> {
  const runner = await prepareRunner(dataSource);
  try {
    for (const migration of sourceMigrations(dataSource, checksums).sort(
      (a, b) => a.timestamp - b.timestamp,
    )) {
      await applyOne(runner, dataSource, migration, { ...options, checksums });
    }
  } finally {
    await runner.release();
  }
}
