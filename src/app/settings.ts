import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../cli/errors.ts";
import { type ProjectsConfig, parseProjectsConfig } from "./project-config.ts";

/** Where the runtime finds its project config and keeps its own files, from the environment. */
export interface AppSettings {
  /** The config path as given (for messages) and resolved. */
  configSource: string;
  configPath: string;
  stateDir: string;
}

export const DEFAULT_CONFIG = "config/projects.yml";
export const DEFAULT_STATE_DIR = "data";

export function readAppSettings(
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
): AppSettings {
  const configSource = env.BACKUPCTL_CONFIG || DEFAULT_CONFIG;
  return {
    configSource,
    configPath: resolve(cwd, configSource),
    stateDir: resolve(cwd, env.BACKUPCTL_STATE_DIR || DEFAULT_STATE_DIR),
  };
}

/** Files under the state dir. Everything there is local to one host. */
export function statePaths(stateDir: string) {
  const locksDir = join(stateDir, "locks");
  return {
    locksDir,
    projectLock: (project: string) => join(locksDir, `${project}.lock`),
    fallbackFile: join(stateDir, "audit-fallback.jsonl"),
    fallbackLock: join(locksDir, "audit-fallback.lock"),
  };
}

export type StatePaths = ReturnType<typeof statePaths>;

export async function loadProjectsConfig(settings: AppSettings): Promise<ProjectsConfig> {
  return parseProjectsConfig(await readConfigFile(settings), {
    source: settings.configSource,
    baseDir: dirname(settings.configPath),
  });
}

/** The config file's text; why it cannot be read as one ConfigError line. */
async function readConfigFile(settings: AppSettings): Promise<string> {
  const source = settings.configSource;
  try {
    return await readFile(settings.configPath, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ConfigError(
        `${source} not found: create it (see config/projects.example.yml) or set BACKUPCTL_CONFIG`,
      );
    }
    if (code === "EISDIR") {
      throw new ConfigError(
        `${source} is a directory: BACKUPCTL_CONFIG must name the config file (e.g. ${join(source, "projects.yml")})`,
      );
    }
    throw new ConfigError(`cannot read ${source}: ${(error as Error).message}`);
  }
}

/**
 * The environment backup commands and hooks run with: backupctl's own, without the audit
 * database's connection (DATABASE_URL, AUDIT_DB_*). Those credentials are the app's; a project's
 * command gets its own (PGPASSWORD, ~/.pgpass) and never sees the audit password.
 */
export function commandEnvironment(
  env: Record<string, string | undefined>,
): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([name]) => name !== "DATABASE_URL" && !name.startsWith("AUDIT_DB_"),
    ),
  );
}
