/**
 * Where the audit database is, read from the environment.
 *
 * Two ways to say it, in this order: `DATABASE_URL`, or the `AUDIT_DB_*` variables every existing
 * backupctl `.env` already has. Development falls back to the embedded dev server's defaults so a
 * fresh clone works with no `.env`; production refuses to connect without a password.
 */

export type AppEnv = "development" | "test" | "production";

export interface ConnectionSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** Raised for configuration that cannot work; the message is safe to print (no secrets). */
export class ConfigError extends Error {
  override name = "ConfigError";
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

export function appEnv(env: Env = process.env): AppEnv {
  const value = env.NODE_ENV ?? "development";
  if (value === "development" || value === "test" || value === "production") return value;
  throw new ConfigError(`NODE_ENV must be development, test or production (got "${value}")`);
}

export function readConnection(env: Env = process.env): ConnectionSettings {
  const mode = appEnv(env);
  const settings = env.DATABASE_URL ? fromUrl(env.DATABASE_URL) : fromAuditVariables(env, mode);
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
  return settings as ConnectionSettings;
}

function fromUrl(raw: string): ConnectionSettings {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      "DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)",
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(`DATABASE_URL must start with postgres:// (got ${url.protocol}//)`);
  }
  const database = decodeUrlPart(url.pathname.replace(/^\//, ""), "database name");
  if (!database) throw new ConfigError("DATABASE_URL names no database (…/database at the end)");
  return {
    host: url.hostname || "localhost",
    port: url.port ? parsePort(url.port, "DATABASE_URL port") : 5432,
    database,
    user: decodeUrlPart(url.username, "user") || "postgres",
    password: decodeUrlPart(url.password, "password"),
  };
}

/** A %-escaped part of the URL; a malformed escape is the user's to fix, named without its value. */
function decodeUrlPart(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(
      `DATABASE_URL: the ${what} has a malformed %-escape (write a literal % as %25)`,
    );
  }
}

function parsePort(value: string, what: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`${what} must be a port number between 1 and 65535 (got "${value}")`);
  }
  return port;
}

/** A printable description of the target, with the password left out. */
export function describeConnection(settings: ConnectionSettings): string {
  return `postgres://${settings.user}@${settings.host}:${settings.port}/${settings.database}`;
}

/** A full URL, password included, for tools that need one (psql). Never print it: see redact(). */
export function connectionUrl(settings: ConnectionSettings): string {
  const auth = settings.password
    ? `${encodeURIComponent(settings.user)}:${encodeURIComponent(settings.password)}`
    : encodeURIComponent(settings.user);
  return `postgres://${auth}@${settings.host}:${settings.port}/${encodeURIComponent(settings.database)}`;
}
