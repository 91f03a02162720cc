import { createPrivateKey, X509Certificate } from "node:crypto";
import { accessSync, constants } from "node:fs";
import type { TlsOptions } from "node:tls";
import { parse as parseConnectionString } from "pg-connection-string";
import { ConfigError } from "../cli/errors.ts";

/**
 * Where the audit database is, read from the environment: the one connection module behind the
 * dev CLI, the migrator, the app and TypeORM's own CLI (src/db/datasource.ts).
 *
 * Two ways to say it, in this order: `DATABASE_URL` (parsed by pg-connection-string, as pg itself
 * does), or the `AUDIT_DB_*` variables every existing backupctl `.env` already has. SSL follows
 * libpq: `sslmode` and friends in the URL, else `AUDIT_DB_SSLMODE` & co., else `PGSSLMODE` & co.
 * Development falls back to the embedded dev server's defaults so a fresh clone works with no
 * `.env`; production refuses to connect without a password.
 */

export type AppEnv = "development" | "test" | "production";

export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** libpq's SSL settings: a mode and the files it may use (paths, read when connecting). */
export interface SslSettings {
  mode: SslMode;
  rootCert?: string;
  cert?: string;
  key?: string;
}

export interface ConnectionSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Absent: plaintext, as pg and the toolkit always did. */
  ssl?: SslSettings;
}

type Env = Record<string, string | undefined>;

/** Defaults of the embedded dev server (`bun run dev up`); never used in production. */
export const DEV_DEFAULTS: ConnectionSettings = {
  host: "127.0.0.1",
  port: 5433,
  database: "backupctl_audit",
  user: "backupctl",
  password: "backupctl-dev",
};

/** The query parameters of DATABASE_URL the toolkit honours; any other one is refused. */
const URL_PARAMETERS = [
  "sslmode",
  "sslrootcert",
  "sslcert",
  "sslkey",
  "host",
  "port",
  "user",
  "password",
];

/** The SSL file settings, by libpq parameter, with their AUDIT_DB_* and PG* variables. */
const SSL_FILES = [
  ["rootCert", "sslrootcert", "AUDIT_DB_SSLROOTCERT", "PGSSLROOTCERT"],
  ["cert", "sslcert", "AUDIT_DB_SSLCERT", "PGSSLCERT"],
  ["key", "sslkey", "AUDIT_DB_SSLKEY", "PGSSLKEY"],
] as const;

export function appEnv(env: Env = process.env): AppEnv {
  const value = env.NODE_ENV ?? "development";
  if (value === "development" || value === "test" || value === "production") return value;
  throw new ConfigError(`NODE_ENV must be development, test or production (got "${value}")`);
}

/**
 * Which variable names a server of the user's own, if any: an explicit `DATABASE_URL` or
 * `AUDIT_DB_HOST` means that server, as for dbmate, Prisma and TypeORM's CLI.
 */
export function explicitServerVariable(env: Env = process.env): string | undefined {
  if (env.DATABASE_URL) return "DATABASE_URL";
  if (env.AUDIT_DB_HOST) return "AUDIT_DB_HOST";
  return undefined;
}

export function readConnection(env: Env = process.env): ConnectionSettings {
  const mode = appEnv(env);
  const settings = env.DATABASE_URL
    ? fromUrl(env.DATABASE_URL, env)
    : fromAuditVariables(env, mode);
  if (mode === "production" && !settings.password) {
    throw new ConfigError(
      "a database password is required in production: set AUDIT_DB_PASSWORD or put it in DATABASE_URL",
    );
  }
  return settings;
}

function fromAuditVariables(env: Env, mode: AppEnv): ConnectionSettings {
  const defaults: Partial<ConnectionSettings> =
    mode === "production" ? { host: "localhost", port: 5432 } : DEV_DEFAULTS;
  const port = env.AUDIT_DB_PORT ? parsePort(env.AUDIT_DB_PORT, "AUDIT_DB_PORT") : defaults.port;
  const settings = {
    host: env.AUDIT_DB_HOST || defaults.host,
    port,
    database: env.AUDIT_DB_NAME || defaults.database,
    user: env.AUDIT_DB_USER || defaults.user,
    password: env.AUDIT_DB_PASSWORD ?? defaults.password ?? "",
  };
  for (const [key, variable] of [
    ["database", "AUDIT_DB_NAME"],
    ["user", "AUDIT_DB_USER"],
  ] as const) {
    if (!settings[key]) {
      throw new ConfigError(
        `${variable} is required in ${mode} (or set DATABASE_URL=postgres://user:password@host:port/database)`,
      );
    }
  }
  const ssl = sslSettings(
    (name) => env[`AUDIT_DB_${name.toUpperCase()}`],
    (name) => `AUDIT_DB_${name.toUpperCase()}`,
    env,
  );
  return { ...(settings as ConnectionSettings), ...(ssl ? { ssl } : {}) };
}

function fromUrl(raw: string, env: Env): ConnectionSettings {
  const protocol = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (!protocol) {
    throw new ConfigError(
      "DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)",
    );
  }
  if (protocol !== "postgres" && protocol !== "postgresql") {
    throw new ConfigError(`DATABASE_URL must start with postgres:// (got ${protocol}://)`);
  }
  // pg-connection-string keeps a malformed escape as written, so the password would silently be
  // another one: the user's to fix, named without the value.
  if (/%(?![0-9a-f]{2})/i.test(raw)) {
    throw new ConfigError(
      "DATABASE_URL has a malformed %-escape (write a literal % as %25, e.g. in the password)",
    );
  }
  const query = raw.includes("?") ? new URLSearchParams(raw.slice(raw.indexOf("?") + 1)) : null;
  for (const name of query?.keys() ?? []) {
    // Not a parameter name: a "?" inside the password, say. Never echoed: it is part of it.
    if (!/^[a-z_]+$/i.test(name)) {
      throw new ConfigError(
        "DATABASE_URL has a ? before its host or database: percent-encode a ? in the password as %3F",
      );
    }
    if (!URL_PARAMETERS.includes(name)) {
      throw new ConfigError(
        `DATABASE_URL parameter "${name}" is not supported (supported: ${URL_PARAMETERS.join(", ")})`,
      );
    }
  }
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    // Only the address and credentials come from here: the SSL files are read when connecting,
    // through tlsOptions(), so the same rules apply to every way of configuring them.
    parsed = parseConnectionString(raw.split("?")[0] as string);
  } catch {
    throw new ConfigError(
      "DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)",
    );
  }
  const database = parsed.database ?? "";
  if (!database) throw new ConfigError("DATABASE_URL names no database (…/database at the end)");
  const port = query?.get("port") || parsed.port;
  const ssl = sslSettings(
    (name) => query?.get(name) ?? undefined,
    (name) => `DATABASE_URL parameter ${name}`,
    env,
  );
  return {
    host: query?.get("host") || parsed.host || "localhost",
    port: port ? parsePort(port, "DATABASE_URL port") : 5432,
    database,
    user: query?.get("user") || parsed.user || "postgres",
    password: query?.get("password") ?? parsed.password ?? "",
    ...(ssl ? { ssl } : {}),
  };
}

/**
 * SSL settings from one source (URL parameters or AUDIT_DB_* variables), each setting falling back
 * to libpq's own variable (PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY), as psql does.
 */
function sslSettings(
  read: (libpqName: string) => string | undefined,
  label: (libpqName: string) => string,
  env: Env,
): SslSettings | undefined {
  const given = read("sslmode");
  const mode = given || env.PGSSLMODE;
  const files: Partial<SslSettings> = {};
  for (const [key, name, , pgVariable] of SSL_FILES) {
    const value = read(name) || env[pgVariable];
    if (value) files[key] = value;
  }
  if (!mode) {
    // libpq: a root certificate alone means verify-full; other files alone change nothing here.
    return files.rootCert ? { mode: "verify-full", ...files } : undefined;
  }
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(
      `${given ? label("sslmode") : "PGSSLMODE"} must be one of ${SSL_MODES.join(", ")} (got "${mode}")`,
    );
  }
  if (mode === "verify-ca" && !files.rootCert) {
    throw new ConfigError(
      `sslmode=verify-ca needs a CA certificate: set ${label("sslrootcert")} (or PGSSLROOTCERT)`,
    );
  }
  return mode === "disable" ? undefined : { mode: mode as SslMode, ...files };
}

/**
 * pg's `ssl` option for these settings, with libpq's meaning of each mode: `require` encrypts
 * without verifying (verify-ca when a root certificate is given), `verify-full` checks the
 * chain and the host name. pg-connection-string's libpq mode does the mapping; the files are read
 * here, so a missing one is a one-line ConfigError naming it.
 */
export function tlsOptions(ssl: SslSettings | undefined): false | TlsOptions {
  if (!ssl) return false;
  const params = new URLSearchParams({ sslmode: ssl.mode });
  for (const [key, name] of SSL_FILES) {
    const file = ssl[key];
    if (!file) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new ConfigError(`cannot read the SSL file ${file} (${name})`);
    }
    params.set(name, file);
  }
  const parsed = parseConnectionString(`postgres://localhost/x?${params}`, {
    useLibpqCompat: true,
  });
  if (typeof parsed.ssl !== "object") return false;
  const tls = parsed.ssl as TlsOptions;
  // Checked here, so a wrong file is one line naming it rather than an OpenSSL error at connect.
  const checks = [
    ["rootCert", "sslrootcert", tls.ca, (pem: string) => new X509Certificate(pem)],
    ["cert", "sslcert", tls.cert, (pem: string) => new X509Certificate(pem)],
    ["key", "sslkey", tls.key, (pem: string) => createPrivateKey(pem)],
  ] as const;
  for (const [key, name, pem, check] of checks) {
    if (typeof pem !== "string") continue;
    try {
      check(pem);
    } catch {
      const what = key === "key" ? "an unencrypted PEM private key" : "a PEM certificate";
      throw new ConfigError(`the SSL file ${ssl[key]} (${name}) is not ${what}`);
    }
  }
  return tls;
}

/**
 * Every password the environment holds for the audit database, whichever one is used to connect:
 * `AUDIT_DB_PASSWORD`, `PGPASSWORD` and DATABASE_URL's (decoded, from the authority or
 * `?password=`). All are registered for redaction, so none reaches output.
 */
export function connectionSecrets(env: Env = process.env): string[] {
  const secrets = [env.AUDIT_DB_PASSWORD, env.PGPASSWORD];
  if (env.DATABASE_URL) {
    try {
      const raw = env.DATABASE_URL;
      secrets.push(parseConnectionString(raw.split("?")[0] as string).password);
      const query = raw.includes("?") ? raw.slice(raw.indexOf("?") + 1) : "";
      secrets.push(new URLSearchParams(query).get("password") ?? undefined);
    } catch {
      // An unparsable URL is reported by readConnection(); redact() still hides user:password@.
    }
  }
  return secrets.filter((secret): secret is string => Boolean(secret));
}

function parsePort(value: string, what: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`${what} must be a port number between 1 and 65535 (got "${value}")`);
  }
  return port;
}

/** A printable description of the target, with the password left out. */
export function describeConnection(
  settings: Pick<ConnectionSettings, "user" | "host" | "port" | "database" | "ssl">,
): string {
  const ssl = settings.ssl ? `?sslmode=${settings.ssl.mode}` : "";
  // An IPv6 address is bracketed, as in a URL: postgres://u@[::1]:5432/db.
  const host = settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  return `postgres://${settings.user}@${host}:${settings.port}/${settings.database}${ssl}`;
}

/**
 * A full URL, password and SSL settings included, for tools that take one (psql, child
 * processes). Never print it: see redact().
 */
export function connectionUrl(settings: ConnectionSettings): string {
  const auth = settings.password
    ? `${encodeURIComponent(settings.user)}:${encodeURIComponent(settings.password)}`
    : encodeURIComponent(settings.user);
  const params = new URLSearchParams();
  if (settings.ssl) {
    params.set("sslmode", settings.ssl.mode);
    for (const [key, name] of SSL_FILES) {
      const file = settings.ssl[key];
      if (file) params.set(name, file);
    }
  }
  const query = params.size ? `?${params}` : "";
  return `postgres://${auth}@${settings.host}:${settings.port}/${encodeURIComponent(settings.database)}${query}`;
}

/** libpq's variables for these SSL settings, for psql and pg_dump started by the toolkit. */
export function libpqSslEnv(settings: ConnectionSettings): Record<string, string> {
  const ssl = settings.ssl;
  if (!ssl) return { PGSSLMODE: "disable" };
  const env: Record<string, string> = { PGSSLMODE: ssl.mode };
  for (const [key, , , variable] of SSL_FILES) {
    const file = ssl[key];
    if (file) env[variable] = file;
  }
  return env;
}
