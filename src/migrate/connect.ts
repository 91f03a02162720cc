import { DataSource, type DataSourceOptions } from "typeorm";
import { describeConnection } from "../config/connection.ts";
import { redact } from "../config/redact.ts";
import { MigrateError } from "./errors.ts";

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
  const dataSource = new DataSource(options);
  try {
    await dataSource.initialize();
  } catch (error) {
    throw asConnectError(error, options);
  }
  return dataSource;
}

export function isConnectError(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  if (code && (CONNECT_SQLSTATES.has(code) || NETWORK_CODES.has(code))) return true;
  if (code && CERTIFICATE_CODES.has(code)) return true;
  return /timeout|terminated unexpectedly|connect|does not support SSL/i.test(message ?? "");
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
