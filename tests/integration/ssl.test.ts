import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chown, mkdtemp, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import {
  type ConnectionSettings,
  connectionUrl,
  readConnection,
} from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import type { EmbeddedServer } from "../../src/devdb/embedded-server.ts";
import { throwawayServer } from "../../src/devdb/throwaway.ts";
import { openDataSource } from "../../src/migrate/connect.ts";
import { MigrateError } from "../../src/migrate/errors.ts";
import { buildMigrator, migrator } from "../support/binaries.ts";
import { projectCopy, run } from "../support/project.ts";
import { testServerConnection } from "../support/server.ts";

/**
 * One SSL-only PostgreSQL for this file: a certificate made here with openssl, and pg_hba.conf
 * refusing every plaintext connection, as hosted PostgreSQL does.
 */
let server: EmbeddedServer;
let certs: string;
let base: ConnectionSettings;

async function makeCertificate(dir: string, name: string): Promise<void> {
  await $({ quiet: true })`openssl req -new -x509 -nodes -days 2 -newkey rsa:2048 \
    -subj /CN=127.0.0.1 -addext ${"subjectAltName=IP:127.0.0.1,DNS:localhost"} \
    -keyout ${join(dir, `${name}.key`)} -out ${join(dir, `${name}.crt`)}`;
}

beforeAll(async () => {
  certs = await mkdtemp(join(tmpdir(), "backupctl-ssl-"));
  await makeCertificate(certs, "server");
  await makeCertificate(certs, "other"); // a CA that did not sign the server's certificate
  server = throwawayServer("tester", {
    settings: { ssl: "on", ssl_cert_file: "'server.crt'", ssl_key_file: "'server.key'" },
    hbaRules: [
      "hostnossl all all 0.0.0.0/0 reject",
      "hostnossl all all 127.0.0.1/32 reject",
      "hostnossl all all ::1/128 reject",
    ],
  });
  await server.initialise();
  // The server reads its key from its data directory, owned by the user it runs as.
  const { uid, gid } = await stat(server.dataDir);
  for (const file of ["server.crt", "server.key"]) {
    const target = join(server.dataDir, file);
    await writeFile(target, await Bun.file(join(certs, file)).text(), { mode: 0o600 });
    await chown(target, uid, gid);
  }
  await server.start();
  await server.ensureDatabase("audit");
  base = {
    host: "127.0.0.1",
    port: server.options.port,
    user: server.options.user,
    password: server.options.password,
    database: "audit",
  };
});

afterAll(async () => {
  await server?.destroy();
});

/** Connects the way every CLI does: environment → readConnection → DataSource options. */
async function connectWith(env: Record<string, string>): Promise<string> {
  const options = buildDataSourceOptions({ NODE_ENV: "test", ...env });
  const dataSource = await openDataSource(options);
  try {
    const [row] = await dataSource.query(
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    return row.ssl ? "encrypted" : "plaintext";
  } finally {
    await dataSource.destroy();
  }
}

async function refusal(env: Record<string, string>): Promise<MigrateError> {
  const error = await connectWith(env).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrateError);
  return error as MigrateError;
}

const url = (query: string) => `${connectionUrl(base)}?${query}`;

describe("SSL, against a server that refuses plaintext", () => {
  test("without sslmode the server refuses: one line, exit 3, no password", async () => {
    const error = await refusal({ DATABASE_URL: connectionUrl(base) });
    expect(error.kind).toBe("connect");
    expect(error.message).toContain("no encryption");
    expect(error.message).not.toContain(base.password);
    expect(error.message.split("\n")).toHaveLength(1);
  });

  test("DATABASE_URL ?sslmode=require encrypts without verifying (libpq's meaning)", async () => {
    expect(await connectWith({ DATABASE_URL: url("sslmode=require") })).toBe("encrypted");
  });

  test("verify-full against the server's certificate", async () => {
    const rootCert = join(certs, "server.crt");
    expect(
      await connectWith({ DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${rootCert}`) }),
    ).toBe("encrypted");
  });

  test("verify-full with a CA that did not sign it is refused in one clear line", async () => {
    const error = await refusal({
      DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${join(certs, "other.crt")}`),
    });
    expect(error.kind).toBe("connect");
    expect(error.message).toMatch(/certificate/);
    expect(error.message).toContain("sslrootcert");
    expect(error.message.split("\n")).toHaveLength(1);
  });

  test("verify-full by host name: localhost is in the certificate", async () => {
    const rootCert = join(certs, "server.crt");
    const named = connectionUrl({ ...base, host: "localhost" });
    expect(
      await connectWith({ DATABASE_URL: `${named}?sslmode=verify-full&sslrootcert=${rootCert}` }),
    ).toBe("encrypted");
  });

  test("the AUDIT_DB_* path: AUDIT_DB_SSLMODE and AUDIT_DB_SSLROOTCERT", async () => {
    const env = {
      AUDIT_DB_HOST: base.host,
      AUDIT_DB_PORT: String(base.port),
      AUDIT_DB_USER: base.user,
      AUDIT_DB_PASSWORD: base.password,
      AUDIT_DB_NAME: base.database,
    };
    expect(await connectWith({ ...env, AUDIT_DB_SSLMODE: "require" })).toBe("encrypted");
    expect(
      await connectWith({
        ...env,
        AUDIT_DB_SSLMODE: "verify-full",
        AUDIT_DB_SSLROOTCERT: join(certs, "server.crt"),
      }),
    ).toBe("encrypted");
    expect((await refusal(env)).kind).toBe("connect");
  });

  test("libpq's PGSSLMODE applies when the URL does not say", async () => {
    expect(await connectWith({ DATABASE_URL: connectionUrl(base), PGSSLMODE: "require" })).toBe(
      "encrypted",
    );
    // The URL's own parameter wins over the variable, as in libpq.
    expect(
      (await refusal({ DATABASE_URL: url("sslmode=disable"), PGSSLMODE: "require" })).kind,
    ).toBe("connect");
  });

  test("verify-full hands pg the certificate and keeps verification on", () => {
    const options = buildDataSourceOptions({
      NODE_ENV: "test",
      DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${join(certs, "server.crt")}`),
    });
    const ssl = options.ssl as { ca?: string; rejectUnauthorized?: boolean };
    expect(ssl.ca).toContain("BEGIN CERTIFICATE");
    expect(ssl.rejectUnauthorized).not.toBe(false);
  });

  test("sslmode=require against a server without SSL: exit 3 and what to change", async () => {
    const plain = testServerConnection();
    const error = await refusal({ DATABASE_URL: `${connectionUrl(plain)}?sslmode=require` });
    expect(error.kind).toBe("connect");
    expect(error.message).toEndWith(
      "the server does not support SSL: remove sslmode (or use sslmode=disable)",
    );
  });

  test("a missing certificate file is a one-line configuration error naming it", () => {
    expect(() =>
      buildDataSourceOptions({
        NODE_ENV: "test",
        DATABASE_URL: url("sslmode=verify-full&sslrootcert=/nonexistent/ca.crt"),
      }),
    ).toThrow("cannot read the SSL file /nonexistent/ca.crt (sslrootcert)");
  });

  test("the dev CLI, the migrator, the app and TypeORM's own CLI connect the same way", async () => {
    const project = await projectCopy();
    const env = {
      DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${join(certs, "server.crt")}`),
      NODE_ENV: "development",
    };
    expect(readConnection(env).ssl?.mode).toBe("verify-full");
    const bun = (args: string[], extra: Record<string, string> = {}) =>
      run([process.execPath, ...args], { cwd: project, env: { ...env, ...extra } });
    const pending = "[ ] CreateBackupLogTable1710720000000";

    const dev = await bun(["run", "dev", "migrate:show"]);
    expect(dev.stderr).not.toContain("error");
    expect(dev.exitCode).toBe(0);
    expect(dev.stdout).toContain(pending);

    const typeorm = await bun([
      "./node_modules/typeorm/cli.js",
      "migration:show",
      "-d",
      "src/db/datasource.ts",
    ]);
    expect(typeorm.exitCode).toBe(0);
    expect(typeorm.stdout).toContain(pending);

    // The migrator's entry as the binary runs it (production rules), and the app's health check.
    const migrator = await bun(["src/migrator/main.ts", "show"], { NODE_ENV: "production" });
    expect(migrator.exitCode).toBe(0);
    expect(migrator.stdout).toContain(pending);
    const app = await bun(["src/app/main.ts", "health", "--json"], { NODE_ENV: "production" });
    expect(JSON.parse(app.stdout).checks.database.ok).toBe(true);

    // psql, through bun run dev psql, gets the same settings (PGSSLMODE & co.).
    const psql = await bun([
      "run",
      "dev",
      "psql",
      "-At",
      "-c",
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ]);
    expect(psql.stdout.trim()).toBe("t");
    expect(psql.exitCode).toBe(0);

    // And a wrong CA fails each of them the same way: exit 3, one line.
    const wrong = {
      DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${join(certs, "other.crt")}`),
    };
    for (const args of [
      ["run", "dev", "migrate:show"],
      ["src/migrator/main.ts", "show", "--timeout", "0"],
    ]) {
      const refused = await bun(args, wrong);
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toMatch(
        /^error: cannot connect to .*certificate does not verify.*\n$/m,
      );
    }
  });

  test("verify, check and generate --check reach their scratch and shadow databases over SSL too", async () => {
    const project = await projectCopy();
    const env = { DATABASE_URL: url("sslmode=require"), NODE_ENV: "development" };
    for (const args of [["migrate:verify"], ["migrate:generate", "--check"], ["migrate:check"]]) {
      const result = await run([process.execPath, "run", "dev", ...args], { cwd: project, env });
      expect({ args, stderr: result.stderr, exitCode: result.exitCode }).toEqual({
        args,
        stderr: expect.not.stringContaining("error"),
        exitCode: 0,
      });
    }
  }, 120_000);

  test("the compiled migrator: show, run and show again over verify-full; a wrong CA is exit 3", async () => {
    const binary = await buildMigrator();
    const env = {
      DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${join(certs, "server.crt")}`),
    };
    await server.ensureDatabase("audit_binary");
    const own = { DATABASE_URL: env.DATABASE_URL.replace("/audit?", "/audit_binary?") };
    const before = await migrator(binary, ["show"], own);
    expect(before.exitCode).toBe(0);
    expect(before.stderr.trim()).toMatch(/^0 applied, [1-9]\d* pending$/);
    expect(before.stdout).toContain("[ ] CreateBackupLogTable1710720000000");
    expect((await migrator(binary, ["run"], own)).exitCode).toBe(0);
    const after = await migrator(binary, ["show", "--exit-code"], own);
    expect(after.exitCode).toBe(0);
    expect(after.stdout).toContain("[X] CreateBackupLogTable1710720000000");
    const wrong = {
      DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${join(certs, "other.crt")}`),
    };
    for (const command of ["show", "run"]) {
      const refused = await migrator(binary, [command, "--timeout", "0"], wrong);
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toMatch(
        /^error: cannot connect to .*certificate does not verify.*\n$/,
      );
      expect(refused.stderr).not.toContain(base.password);
    }
  }, 120_000);
});
