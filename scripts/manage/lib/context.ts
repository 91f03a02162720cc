import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
import { ManageError } from "../../../src/cli/errors.ts";
import { addSecret } from "../../../src/cli/output.ts";
import { connectionSecrets } from "../../../src/config/connection.ts";

/**
 * Where `./manage` works and what it knows about that checkout: the project root (the folder of
 * the `manage` file, or `--dir` / BACKUPCTL_HOME), its compose file, `.env` and backups folder.
 */

/** The services of docker-compose.yml that `./manage` drives. */
export const SERVICES = {
  app: "backupctl",
  db: "backupctl-audit-db",
  migrator: "migrator",
} as const;

/** The compose profile under which the migrator service exists. */
export const MIGRATE_PROFILE = "migrate";

export interface ManageContext {
  root: string;
  composeFile: string;
  envFile: string;
  envExample: string;
  backupsDir: string;
  /** The variables of `.env` (empty when it does not exist). */
  env: Record<string, string>;
  /** The audit database's user and name as the db container was given them (compose defaults). */
  db: { user: string; name: string };
  /** Image names of the app and the migrator, from the compose file. */
  images: { app: string; migrator: string };
}

/** The checkout to manage: --dir, else BACKUPCTL_HOME, else the folder the `manage` file is in. */
export function projectRoot(dir?: string): string {
  const chosen = dir || process.env.BACKUPCTL_HOME;
  return resolve(chosen || defaultRoot());
}

/** The checkout this `manage` file belongs to. */
export function defaultRoot(): string {
  return resolve(join(import.meta.dir, "..", "..", ".."));
}

export interface ContextNeeds {
  /** Refuse to go on without docker-compose.yml (default true). */
  compose?: boolean;
  /** Refuse to go on without .env (default true). */
  env?: boolean;
}

/** Reads the checkout, failing with one clear line when what the command needs is missing. */
export async function loadContext(
  dir: string | undefined,
  needs: ContextNeeds = {},
): Promise<ManageContext> {
  const root = projectRoot(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ManageError("usage", `${root} is not a directory (--dir / BACKUPCTL_HOME)`);
  }
  const composeFile = join(root, "docker-compose.yml");
  const envFile = join(root, ".env");
  if ((needs.compose ?? true) && !existsSync(composeFile)) {
    throw new ManageError(
      "usage",
      `no docker-compose.yml in ${root}: run ./manage in the backupctl checkout, or point --dir (or BACKUPCTL_HOME) at it`,
    );
  }
  if ((needs.env ?? true) && !existsSync(envFile)) {
    throw new ManageError("usage", `no .env in ${root}: run ./manage setup first`);
  }
  const env = existsSync(envFile) ? parseEnvFile(await Bun.file(envFile).text()) : {};
  addSecret(...connectionSecrets(env));
  return {
    root,
    composeFile,
    envFile,
    envExample: join(root, ".env.example"),
    backupsDir: resolve(root, process.env.BACKUPCTL_BACKUP_DIR || "backups"),
    env,
    // The same defaults docker-compose.yml gives POSTGRES_USER and POSTGRES_DB.
    db: { user: env.AUDIT_DB_USER || "backupctl", name: env.AUDIT_DB_NAME || "backupctl_audit" },
    images: existsSync(composeFile)
      ? await composeImages(composeFile)
      : { app: "backupctl:latest", migrator: "backupctl-migrator:latest" },
  };
}

async function composeImages(file: string): Promise<ManageContext["images"]> {
  let services: Record<string, { image?: string }> = {};
  try {
    const doc = Bun.YAML.parse(await Bun.file(file).text()) as {
      services?: Record<string, { image?: string }>;
    };
    services = doc?.services ?? {};
  } catch {
    // An invalid file is reported by `check` (docker compose config); use the usual names here.
  }
  return {
    app: services[SERVICES.app]?.image ?? "backupctl:latest",
    migrator: services[SERVICES.migrator]?.image ?? "backupctl-migrator:latest",
  };
}

/**
 * `.env` by the platform's dotenv parser (node:util.parseEnv): `#` comments, `export `, single,
 * double and backtick quotes, `\n` in double quotes, as docker compose and Bun read them (both also
 * expand `$VAR`, which this does not: only values are compared and redacted here).
 */
export function parseEnvFile(text: string): Record<string, string> {
  return parseEnv(text) as Record<string, string>;
}

/** `backupctl:latest` → `backupctl:previous` (a registry port such as `host:5000/x` is kept). */
export function withTag(image: string, tag: string): string {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  const base = colon > slash ? image.slice(0, colon) : image;
  return `${base}:${tag}`;
}
