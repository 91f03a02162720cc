import { randomBytes } from "node:crypto";
import pg from "pg";
import { DataSource } from "typeorm";
import { type ConnectionSettings, connectionUrl } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { migrations } from "../../src/db/migrations.ts";
import { testServerConnection } from "./server.ts";

/**
 * Creates a database on the test server and returns how to reach it: empty, or a copy of
 * `template`. FILE_COPY copies the files instead of writing every page to the WAL: about 0.1 s
 * less server CPU per database, measured with three workers creating at once.
 */
export async function freshDatabase(template = "template1"): Promise<ConnectionSettings> {
  const name = `t_${randomBytes(6).toString("hex")}`;
  await withAdmin(async (admin) => {
    await admin.query(
      `CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(template)} STRATEGY FILE_COPY`,
    );
  });
  return testServerConnection(name);
}

async function withAdmin<T>(work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client(testServerConnection());
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/** Environment variables a child process needs to use this database as the audit database. */
export function databaseEnv(connection: ConnectionSettings): Record<string, string> {
  return { DATABASE_URL: connectionUrl(connection) };
}

/** A DataSource on the given database, built by the project's own options builder. */
export async function openDataSource(connection: ConnectionSettings): Promise<DataSource> {
  const options = buildDataSourceOptions({ NODE_ENV: "test" }, connection);
  const dataSource = new DataSource(options);
  await dataSource.initialize();
  return dataSource;
}

export async function query<T = Record<string, unknown>>(
  connection: ConnectionSettings,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/**
 * A fresh database with the first `applied` project migrations run (all by default): a copy of a
 * database migrated once per test server, as copying costs the server less than migrating.
 */
export async function migratedDatabase(applied = migrations.length): Promise<ConnectionSettings> {
  return freshDatabase(await migratedTemplate(applied));
}

const templates = new Map<number, Promise<string>>();

/**
 * The test server's database with the first `applied` migrations run, made by the first worker
 * that needs it (the others wait on an advisory lock). It is migrated under a temporary name and
 * renamed when done, so a worker killed halfway leaves no half-migrated template.
 */
function migratedTemplate(applied: number): Promise<string> {
  const existing = templates.get(applied);
  if (existing) return existing;
  const name = `template_migrated_${applied}`;
  const making = withAdmin(async (admin) => {
    await admin.query("SELECT pg_advisory_lock(hashtext($1))", [name]);
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) {
      const db = await freshDatabase();
      await migrate(db, applied);
      await admin.query(
        `ALTER DATABASE ${admin.escapeIdentifier(db.database)} RENAME TO ${admin.escapeIdentifier(name)}`,
      );
    }
    // Ending the session releases the lock.
    return name;
  });
  templates.set(applied, making);
  return making;
}

async function migrate(db: ConnectionSettings, applied: number): Promise<void> {
  const ds = await openDataSource(db);
  const partial = new DataSource({ ...ds.options, migrations: migrations.slice(0, applied) });
  await ds.destroy();
  await partial.initialize();
  await partial.runMigrations({ transaction: "each" });
  await partial.destroy();
}
