import pg from "pg";
import type { LoggerOptions } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { migrations } from "../db/migrations.ts";
import { StderrLogger } from "../db/stderr-logger.ts";
import { BackupLogRecord } from "../domain/audit/backup-log.record.ts";
import {
  type AppEnv,
  appEnv,
  type ConnectionSettings,
  readConnection,
  tlsOptions,
} from "./connection.ts";

const LOGGING: Record<AppEnv, LoggerOptions> = {
  development: ["migration", "warn", "error"],
  production: ["error"],
  test: false,
};

/**
 * DataSource options for the audit database, from the environment. Every DataSource in the
 * project (dev CLI, TypeORM's own CLI, the migrator binary, the app) is built from this.
 *
 * Entities and migrations are imported, not globbed, so a compiled binary carries them; `driver`
 * is passed for the same reason (a bundle cannot `require("pg")` by name). The logger is TypeORM's
 * default, so its own CLI prints as usual; the toolkit's CLIs swap in StderrLogger (see withStderrLogging).
 */
export function buildDataSourceOptions(
  env: Record<string, string | undefined> = process.env,
  connection: ConnectionSettings = readConnection(env),
): PostgresDataSourceOptions {
  const mode = appEnv(env);
  return {
    type: "postgres",
    driver: pg,
    host: connection.host,
    port: connection.port,
    database: connection.database,
    username: connection.user,
    password: connection.password,
    // Always given, so pg never falls back to PGSSLMODE on its own: connection.ts reads that.
    ssl: tlsOptions(connection.ssl),
    entities: [BackupLogRecord],
    migrations,
    migrationsTableName: "migrations",
    migrationsRun: false,
    migrationsTransactionMode: "each",
    synchronize: false,
    // The connection never installs anything: an extension the schema needs is created by the
    // migration that needs it, so the migrations alone build the schema (a DBA applying their SQL
    // gets the same). gen_random_uuid() is built into PostgreSQL 13+ and needs no extension.
    installExtensions: false,
    uuidExtension: "pgcrypto",
    logging: LOGGING[mode],
    applicationName: "backupctl-toolkit",
    connectTimeoutMS: 5000,
  };
}

/** Keeps stdout for data: TypeORM's messages go to stderr, at the same levels. */
export function withStderrLogging(options: PostgresDataSourceOptions): PostgresDataSourceOptions {
  return { ...options, logger: new StderrLogger(options.logging ?? false) };
}
