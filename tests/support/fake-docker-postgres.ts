import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { freePort } from "./server.ts";

/**
 * A PostgreSQL server of the same major version as this machine's `pg_dump` (Debian's 15), for
 * the backup tests: pg_dump refuses to dump a server newer than itself, so it cannot dump the
 * PostgreSQL 18 the rest of the suite runs on. In production pg_dump runs inside the database
 * container, whose client always matches its server; the docker stand-in passes `compose exec
 * <db> pg_dump …` through to the real pg_dump, pointed at this server.
 *
 * Uses Debian's server binaries (package postgresql-15, on this kind of machine). As root, the
 * server runs as the `postgres` user, like the embedded one (PostgreSQL refuses root).
 */

export interface MatchingServer {
  port: number;
  user: string;
  password: string;
  major: number;
  connection(database?: string): ConnectionSettings;
  stop(): Promise<void>;
}

function run(cmd: string[]): { exitCode: number; output: string } {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return {
    exitCode: result.exitCode,
    output: `${result.stdout.toString()}${result.stderr.toString()}`,
  };
}

/** The major version of the pg_dump on PATH, e.g. 15. */
export function pgDumpMajor(): number {
  const { output } = run(["pg_dump", "--version"]);
  const major = Number(/\b(\d+)(?:\.\d+)+/.exec(output)?.[1]);
  if (!major) throw new Error(`cannot read the version of pg_dump: ${output}`);
  return major;
}

export async function startMatchingServer(): Promise<MatchingServer> {
  const major = pgDumpMajor();
  const bin = `/usr/lib/postgresql/${major}/bin`;
  if (!existsSync(join(bin, "postgres"))) {
    throw new Error(
      `no PostgreSQL ${major} server in ${bin}: the backup tests need Debian's postgresql-${major} (apt-get install postgresql-${major})`,
    );
  }
  const asRoot = userInfo().uid === 0;
  const runAs = asRoot ? ["runuser", "-u", "postgres", "--"] : [];
  const dir = join(tmpdir(), `backupctl-pg${major}-${randomBytes(5).toString("hex")}`);
  const data = join(dir, "data");
  const user = "tester";
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const port = freePort();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const passwordFile = join(dir, "pw");
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    const uid = Number(run(["id", "-u", "postgres"]).output.trim());
    const gid = Number(run(["id", "-g", "postgres"]).output.trim());
    await chown(dir, uid, gid);
    await chown(passwordFile, uid, gid);
  }
  const init = run([
    ...runAs,
    join(bin, "initdb"),
    `--pgdata=${data}`,
    `--username=${user}`,
    `--pwfile=${passwordFile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--no-locale",
    "--no-sync",
  ]);
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.output}`);
  const settings = [
    "listen_addresses = '127.0.0.1'",
    "unix_socket_directories = ''",
    `port = ${port}`,
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
  ];
  const conf = join(data, "postgresql.conf");
  await writeFile(conf, `${await Bun.file(conf).text()}\n${settings.join("\n")}\n`);
  const start = run([
    ...runAs,
    join(bin, "pg_ctl"),
    "start",
    "-D",
    data,
    "-l",
    join(dir, "postgres.log"),
    "-w",
    "-t",
    "60",
  ]);
  if (start.exitCode !== 0) throw new Error(`PostgreSQL ${major} did not start: ${start.output}`);
  return {
    port,
    user,
    password,
    major,
    connection: (database = "postgres") => ({
      host: "127.0.0.1",
      port,
      user,
      password,
      database,
    }),
    async stop() {
      run([...runAs, join(bin, "pg_ctl"), "stop", "-D", data, "-m", "immediate", "-w"]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
