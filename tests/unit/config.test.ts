import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/cli/errors.ts";
import {
  DEV_DEFAULTS,
  describeConnection,
  readConnection,
  tlsOptions,
} from "../../src/config/connection.ts";
import { redact } from "../../src/config/redact.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { describeTarget } from "../../src/migrate/connect.ts";

describe("connection settings", () => {
  test("DATABASE_URL wins over AUDIT_DB_* and is decoded", () => {
    const settings = readConnection({
      DATABASE_URL: "postgres://audit%40x:p%40ss%2Fword@db.internal:6543/audit_db",
      AUDIT_DB_HOST: "ignored",
    });
    expect(settings).toEqual({
      host: "db.internal",
      port: 6543,
      database: "audit_db",
      user: "audit@x",
      password: "p@ss/word",
    });
  });

  test("AUDIT_DB_* variables, the names existing backupctl .env files use", () => {
    const settings = readConnection({
      NODE_ENV: "production",
      AUDIT_DB_HOST: "backupctl-audit-db",
      AUDIT_DB_PORT: "5432",
      AUDIT_DB_NAME: "backupctl",
      AUDIT_DB_USER: "audit",
      AUDIT_DB_PASSWORD: "s3cret",
    });
    expect(settings).toEqual({
      host: "backupctl-audit-db",
      port: 5432,
      database: "backupctl",
      user: "audit",
      password: "s3cret",
    });
  });

  test("development falls back to the embedded dev server", () => {
    expect(readConnection({})).toEqual(DEV_DEFAULTS);
  });

  test("production refuses to start without a password", () => {
    expect(() =>
      readConnection({ NODE_ENV: "production", AUDIT_DB_NAME: "a", AUDIT_DB_USER: "b" }),
    ).toThrow(ConfigError);
    expect(() =>
      readConnection({ NODE_ENV: "production", DATABASE_URL: "postgres://u@h/db" }),
    ).toThrow(/password is required/);
  });

  test.each([
    ["DATABASE_URL=not a url", { DATABASE_URL: "not a url" }, /not a valid URL/],
    ["DATABASE_URL=mysql://…", { DATABASE_URL: "mysql://u:p@h/db" }, /must start with postgres/],
    [
      "DATABASE_URL without a database",
      { DATABASE_URL: "postgres://u:p@h:5432/" },
      /names no database/,
    ],
    [
      "a malformed %-escape in the password",
      { DATABASE_URL: "postgres://u:se%zzcret@h/db" },
      /^DATABASE_URL has a malformed %-escape \(write a literal % as %25, e\.g\. in the password\)$/,
    ],
    [
      "an unencoded ? in the password (its tail is never echoed)",
      { DATABASE_URL: "postgres://u:Zq9?hunter2@h/db" },
      /^DATABASE_URL has a \? before its host or database: percent-encode a \? in the password as %3F$/,
    ],
    ["a % at the end", { DATABASE_URL: "postgres://u:p@h/db?password=x%" }, /malformed %-escape/],
    ["AUDIT_DB_PORT=70000", { AUDIT_DB_PORT: "70000" }, /AUDIT_DB_PORT must be a port/],
    ["NODE_ENV=staging", { NODE_ENV: "staging" }, /NODE_ENV must be/],
  ])("bad configuration (%s) is a one-line ConfigError", (_label, env, message) => {
    expect(() => readConnection(env)).toThrow(message);
  });

  test("error messages never contain the password", () => {
    try {
      readConnection({ DATABASE_URL: "postgres://u:hunter22@h:99999/db" });
      throw new Error("expected a ConfigError");
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter22");
    }
    try {
      readConnection({ DATABASE_URL: "postgres://u:hun%zzter22@h/db" });
      throw new Error("expected a ConfigError");
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter22");
    }
  });
});

describe("DATABASE_URL parameters and SSL (libpq's rules)", () => {
  const url = "postgres://u:pw@db.example.com:5432/audit";

  test("sslmode and the certificate files are read from the URL", () => {
    const settings = readConnection({
      DATABASE_URL: `${url}?sslmode=verify-full&sslrootcert=/etc/ca.crt&sslcert=/c&sslkey=/k`,
    });
    expect(settings.ssl).toEqual({
      mode: "verify-full",
      rootCert: "/etc/ca.crt",
      cert: "/c",
      key: "/k",
    });
    expect(describeConnection(settings)).toBe(
      "postgres://u@db.example.com:5432/audit?sslmode=verify-full",
    );
  });

  test("a DataSource's target is described as its connection is, without the password", () => {
    const settings = readConnection({
      DATABASE_URL: "postgres://u:s3cret@db.example.com:6432/audit",
    });
    const target = describeTarget(buildDataSourceOptions({ NODE_ENV: "test" }, settings));
    expect(target).toBe(describeConnection(settings));
    expect(target).toBe("postgres://u@db.example.com:6432/audit");
    const ipv6 = readConnection({ DATABASE_URL: "postgres://u:s3cret@[::1]:6432/audit" });
    expect(describeConnection(ipv6)).toBe("postgres://u@[::1]:6432/audit");
  });

  test("?password= and ?user= work as in libpq", () => {
    const settings = readConnection({
      DATABASE_URL: "postgres://db/audit?user=me&password=s%26cret",
    });
    expect(settings).toMatchObject({
      user: "me",
      password: "s&cret",
      host: "db",
      database: "audit",
    });
  });

  test("PGSSLMODE and PGSSLROOTCERT apply when the URL or AUDIT_DB_SSL* do not say", () => {
    expect(readConnection({ DATABASE_URL: url, PGSSLMODE: "require" }).ssl).toEqual({
      mode: "require",
    });
    expect(
      readConnection({ DATABASE_URL: `${url}?sslmode=disable`, PGSSLMODE: "require" }).ssl,
    ).toBeUndefined();
    expect(
      readConnection({
        AUDIT_DB_SSLMODE: "verify-ca",
        AUDIT_DB_SSLROOTCERT: "/ca",
        PGSSLMODE: "require",
      }).ssl,
    ).toEqual({ mode: "verify-ca", rootCert: "/ca" });
    // libpq: a root certificate alone means verify-full.
    expect(readConnection({ PGSSLROOTCERT: "/ca" }).ssl).toEqual({
      mode: "verify-full",
      rootCert: "/ca",
    });
    expect(readConnection({}).ssl).toBeUndefined();
  });

  test.each([
    [
      "an unknown parameter",
      `${url}?channel_binding=require`,
      'DATABASE_URL parameter "channel_binding" is not supported',
    ],
    ["node-postgres' ssl=true", `${url}?ssl=true`, 'DATABASE_URL parameter "ssl" is not supported'],
    [
      "an unknown sslmode",
      `${url}?sslmode=always`,
      "DATABASE_URL parameter sslmode must be one of disable, prefer, require, verify-ca, verify-full",
    ],
    [
      "verify-ca without a CA",
      `${url}?sslmode=verify-ca`,
      "sslmode=verify-ca needs a CA certificate",
    ],
  ])("refused in one line, never ignored: %s", (_label, DATABASE_URL, message) => {
    expect(() => readConnection({ DATABASE_URL })).toThrow(message);
  });

  test("a bad AUDIT_DB_SSLMODE or PGSSLMODE names its variable", () => {
    expect(() => readConnection({ AUDIT_DB_SSLMODE: "on" })).toThrow(
      "AUDIT_DB_SSLMODE must be one of",
    );
    expect(() => readConnection({ PGSSLMODE: "on" })).toThrow("PGSSLMODE must be one of");
  });

  test("libpq's meaning of each mode, as pg's TLS options", () => {
    expect(tlsOptions(undefined)).toBe(false);
    expect(tlsOptions({ mode: "require" })).toMatchObject({ rejectUnauthorized: false });
    expect(tlsOptions({ mode: "prefer" })).toMatchObject({ rejectUnauthorized: false });
    // Any readable file passes the first check; one that is no certificate is named in one line.
    expect(() => tlsOptions({ mode: "verify-full", rootCert: import.meta.path })).toThrow(
      `the SSL file ${import.meta.path} (sslrootcert) is not a PEM certificate`,
    );
    expect(() => tlsOptions({ mode: "require", key: import.meta.path })).toThrow(
      "(sslkey) is not an unencrypted PEM private key",
    );
    expect(() => tlsOptions({ mode: "require", cert: "/nonexistent.crt" })).toThrow(
      "cannot read the SSL file /nonexistent.crt (sslcert)",
    );
  });
});

describe("DataSource options", () => {
  test("never auto-run, never synchronize, one transaction per migration", () => {
    for (const NODE_ENV of ["development", "test", "production"]) {
      const options = buildDataSourceOptions({
        NODE_ENV,
        AUDIT_DB_PASSWORD: "x",
        AUDIT_DB_NAME: "a",
        AUDIT_DB_USER: "b",
      });
      expect(options.migrationsRun).toBe(false);
      expect(options.synchronize).toBe(false);
      expect(options.migrationsTransactionMode).toBe("each");
      expect(options.migrations?.length).toBeGreaterThanOrEqual(3);
    }
  });

  test("logging per environment", () => {
    const base = { AUDIT_DB_PASSWORD: "x", AUDIT_DB_NAME: "a", AUDIT_DB_USER: "b" };
    expect(buildDataSourceOptions({ ...base, NODE_ENV: "development" }).logging).toEqual([
      "migration",
      "warn",
      "error",
    ]);
    expect(buildDataSourceOptions({ ...base, NODE_ENV: "production" }).logging).toEqual(["error"]);
    expect(buildDataSourceOptions({ ...base, NODE_ENV: "test" }).logging).toBe(false);
  });
});

describe("redact", () => {
  test("hides URL passwords and given secrets, plain and URL-encoded", () => {
    expect(redact("connect postgres://u:pa%20ss@h/db failed")).toContain("postgres://u:***@");
    expect(redact("postgres://user:s3cr%2Ft@host:5432/db")).toBe(
      "postgres://user:***@host:5432/db",
    );
    expect(redact("password s3cr/t and s3cr%2Ft", ["s3cr/t"])).toBe("password *** and ***");
  });

  test("every form a password takes in text: URLSearchParams, JSON, shell quoting", () => {
    const secret = `p w+&"x\\'y`;
    const texts = [
      new URLSearchParams({ password: secret }).toString(),
      JSON.stringify({ password: secret }),
      `PGPASSWORD='${secret.replaceAll("'", "'\\''")}' psql`,
      `postgres://u@h/db?password=${encodeURIComponent(secret)}`,
    ];
    for (const text of texts) {
      const clean = redact(text, [secret]);
      expect(clean).toContain("***");
      for (const piece of ["p w", "p+w", "p%20w", "x\\", '&\\"x'])
        expect(clean).not.toContain(piece);
    }
  });
});
