import { randomBytes } from "node:crypto";
import pg from "pg";
import { DataSource } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { type Checksums, sourceMigrations } from "./checksum.ts";
import { asConnectError } from "./connect.ts";
import { MigrateError } from "./errors.ts";
import { applyOne, type ExecuteOptions, prepareRunner } from "./executor.ts";

/**
 * Throwaway databases on the configured server (the embedded dev server by default), so that
 * generating and checking never depend on the dev database being up to date.
 *
 * The shadow: a database with every migration applied, named after the checksums of the
 * migrations, and kept until they change, so a warm generate only diffs. Scratch databases:
 * empty, for inspections that run migrations up and down, dropped afterwards.
 */
const SHADOW_PREFIX = "backupctl_shadow_";
const SCRATCH_PREFIX = "backupctl_scratch_";

async function admin<T>(
  base: PostgresDataSourceOptions,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    host: base.host,
    port: base.port,
    user: base.username,
    password: typeof base.password === "string" ? base.password : undefined,
    database: "postgres",
    application_name: "backupctl-shadow",
  });
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
  return `${SHADOW_PREFIX}${new Bun.CryptoHasher("sha256").update(key).digest("hex").slice(0, 16)}`;
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
  const database = shadowName(checksums);
  const exists = await admin(base, async (client) => {
    const found = await client.query("SELECT datname FROM pg_database WHERE datname LIKE $1", [
      `${SHADOW_PREFIX}%`,
    ]);
    // Shadows of older migration sets are stale: drop them, but never one in use (no FORCE).
    for (const row of found.rows as { datname: string }[]) {
      if (row.datname !== database) {
        await client
          .query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(row.datname)}`)
          .catch(() => undefined);
      }
    }
    return found.rows.some((row: { datname: string }) => row.datname === database);
  });
  if (exists) return { dataSource: await open(base, database), database, warm: true };
  // Built under a scratch name and renamed when complete, so a half-built shadow is never used.
  const building = await createScratch(base);
  const dataSource = await open(base, building);
  try {
    await migrateAll(dataSource, checksums, options);
  } finally {
    await dataSource.destroy();
  }
  await admin(base, async (client) => {
    try {
      await client.query(
        `ALTER DATABASE ${client.escapeIdentifier(building)} RENAME TO ${client.escapeIdentifier(database)}`,
      );
    } catch (error) {
      // Another process built the same shadow meanwhile: use theirs.
      if ((error as { code?: string }).code !== "42P04") throw error;
      await client.query(
        `DROP DATABASE IF EXISTS ${client.escapeIdentifier(building)} WITH (FORCE)`,
      );
    }
  });
  return { dataSource: await open(base, database), database, warm: false };
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
