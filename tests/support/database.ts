import { randomBytes } from "node:crypto";
import pg from "pg";
import { DataSource } from "typeorm";
import { type ConnectionSettings, connectionUrl } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { migrations } from "../../src/db/migrations.ts";
import { testServerConnection } from "./server.ts";

/** Creates an empty database on the test server and returns how to reach it. */
export async function freshDatabase(): Promise<ConnectionSettings> {
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client(testServerConnection());
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  return testServerConnection(name);
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

/** A fresh database with the first `applied` project migrations run (all by default). */
export async function migratedDatabase(applied = migrations.length): Promise<ConnectionSettings> {
  const db = await freshDatabase();
  const ds = await openDataSource(db);
  const partial = new DataSource({ ...ds.options, migrations: migrations.slice(0, applied) });
  await ds.destroy();
  await partial.initialize();
  await partial.runMigrations({ transaction: "each" });
  await partial.destroy();
  return db;
}
