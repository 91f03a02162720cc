import pg from "pg";
import type { DataSource, DataSourceOptions } from "typeorm";
import { type ConnectionSettings, describeConnection, tlsOptions } from "../config/connection.ts";
import { redact } from "../config/redact.ts";
import { MigrateError } from "./errors.ts";
import type { Queryable } from "./ledger.ts";

/** PostgreSQL error codes that mean "these credentials or this database are wrong". */
const CONNECT_SQLSTATES = new Set([
  "28000", // invalid_authorization_specification (e.g. no pg_hba entry)
  "28P01", // invalid_password
  "3D000", // invalid_catalog_name: the database does not exist
  "57P03", // cannot_connect_now: starting up / shutting down
  "53300", // too_many_connections
]);

/** Node's codes for a server that cannot be reached (yet). */
export const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ECONNRESET",
]);

/** Node's codes for a server certificate that does not verify (sslmode verify-ca / verify-full). */
const CERTIFICATE_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Opens a DataSource; failures to reach or log into the server become a `connect` MigrateError. */
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  // Loaded here, not at the top: commands that only read go through openClient without it.
  const { DataSource } = await import("typeorm");
  const dataSource = new DataSource(options);
  try {
    await dataSource.initialize();
  } catch (error) {
    throw asConnectError(error, options);
  }
  return dataSource;
}

/**
 * A plain connection for commands that only read the bookkeeping tables (`migrate:show`, a run
 * with nothing to do): the same settings, TLS and failures as openDataSource, without loading
 * TypeORM, which is most of such a command's time.
 */
export async function openClient(settings: ConnectionSettings): Promise<pg.Client> {
  const client = new pg.Client({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: settings.password,
    ssl: tlsOptions(settings.ssl) as pg.ClientConfig["ssl"],
    application_name: "backupctl-toolkit",
    connectionTimeoutMillis: 5000,
  });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw asConnectError(error, {
      type: "postgres",
      host: settings.host,
      port: settings.port,
      database: settings.database,
      username: settings.user,
      password: settings.password,
    });
  }
  return client;
}

/** A plain client as the engine's readers take it: the rows of each query. */
export function queryable(client: pg.Client): Queryable {
  return { query: async (sql, parameters) => (await client.query(sql, parameters)).rows };
}

export function isConnectError(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  if (code && (CONNECT_SQLSTATES.has(code) || NETWORK_CODES.has(code))) return true;
  if (code && CERTIFICATE_CODES.has(code)) return true;
  return /timeout|terminated unexpectedly|connect|does not support SSL|client password must be a string/i.test(
    message ?? "",
  );
}

export function asConnectError(error: unknown, options: DataSourceOptions): MigrateError {
  const target = describeTarget(options);
  const password =
    "password" in options && typeof options.password === "string" ? options.password : "";
  // Redacted before it is cut to one line: a cut could split the password.
  const reason = redact(explain(error), [password]).split("\n")[0] || "unknown error";
  if (isConnectError(error))
    return new MigrateError("connect", `cannot connect to ${target}: ${reason}`, { cause: error });
  return new MigrateError("internal", `cannot open ${target}: ${reason}`, { cause: error });
}

function explain(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === "ECONNREFUSED")
    return "connection refused (is the database running, on that host and port?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "28P01") return "password authentication failed";
  if (code === "3D000") return message ?? "database does not exist";
  if (code && CERTIFICATE_CODES.has(code))
    return `the server's certificate does not verify (${message ?? code}): check sslrootcert (the CA that signed it) and the host name, or use sslmode=require to encrypt without verifying`;
  if (/client password must be a string/i.test(message ?? ""))
    return "the server asks for a password and none is set (put it in DATABASE_URL, or set AUDIT_DB_PASSWORD)";
  if (/does not support SSL/i.test(message ?? ""))
    return "the server does not support SSL: remove sslmode (or use sslmode=disable)";
  if (error instanceof AggregateError && error.errors.length) return explain(error.errors[0]);
  return message ?? String(error);
}

/** The DataSource's target as describeConnection prints it (no password). */
export function describeTarget(options: DataSourceOptions): string {
  const o = options as { host?: string; port?: number; database?: string; username?: string };
  return describeConnection({
    user: o.username ?? "",
    host: o.host ?? "localhost",
    port: o.port ?? 5432,
    database: o.database ?? "",
  });
}
