import { usageError } from "../../cli/errors.ts";
import { addSecret, out } from "../../cli/output.ts";
import { connectionSecrets, readConnection } from "../../config/connection.ts";
import { buildDataSourceOptions, withStderrLogging } from "../../config/typeorm.config.ts";
import { AuditDatabase, isAuditUnavailable } from "../audit-database.ts";
import { AuditFallbackFile, FallbackFileError } from "../audit-fallback.ts";
import { PROJECT_NAME_RULE, type ProjectConfig, type ProjectsConfig } from "../project-config.ts";
import { parseLast } from "../run-view.ts";
import { type AppSettings, type StatePaths, statePaths } from "../settings.ts";
import { catchUp } from "../startup.ts";

/** What the commands share: connecting, catching up after an outage, and argument checks. */

/** A pause before a failed dump runs again, so a briefly unavailable source can come back. */
export const RETRY_DELAY_MS = 5000;

export const clock = () => new Date();

/** The audit database from DATABASE_URL / AUDIT_DB_*, its password registered for redaction. */
export function openAuditDatabase(): { db: AuditDatabase; password: string } {
  const connection = readConnection();
  addSecret(connection.password, ...connectionSecrets());
  const options = withStderrLogging(buildDataSourceOptions(process.env, connection));
  return { db: new AuditDatabase(options), password: connection.password };
}

export function fallbackFile(paths: StatePaths): AuditFallbackFile {
  return new AuditFallbackFile(paths.fallbackFile, paths.fallbackLock);
}

/**
 * Replays the fallback file and recovers crashed runs, saying what it did. Returns the error when
 * the audit log is unavailable (the caller carries on without it), else null.
 */
export async function catchUpWithAuditLog(
  db: AuditDatabase,
  settings: AppSettings,
  config: ProjectsConfig,
): Promise<Error | null> {
  const paths = statePaths(settings.stateDir);
  const fallback = fallbackFile(paths);
  try {
    const { replay, recovered } = await catchUp({
      dataSource: await db.dataSource(),
      fallback,
      projects: config.projects,
      lockPath: paths.projectLock,
      clock,
      retryDelayMs: RETRY_DELAY_MS,
    });
    if (replay.replayed > 0) {
      out.success(
        `replayed ${replay.replayed} run(s) from ${fallback.path} into the audit database`,
      );
    }
    for (const problem of replay.problems) out.warn(`${fallback.path}: ${problem}`);
    if (replay.kept > 0)
      out.warn(`${replay.kept} run(s) stay in ${fallback.path} for the next start`);
    for (const run of recovered) {
      out.warn(
        `run ${run.id} of ${run.projectName} (started ${run.startedAt.toISOString()}) was left unfinished by a process that is gone: recorded as failed`,
      );
    }
    return null;
  } catch (error) {
    if (error instanceof FallbackFileError) {
      // Backups matter more than catching up: that waits for the next start.
      out.warn(`${error.message}: its runs stay there for the next start`);
      return null;
    }
    if (!isAuditUnavailable(error)) throw error;
    out.warn(`the audit log is unavailable: ${(error as Error).message}`);
    return error as Error;
  }
}

export function findProject(config: ProjectsConfig, name: string): ProjectConfig {
  const project = config.projects.find((candidate) => candidate.name === name);
  if (project) return project;
  const known = config.projects.map((candidate) => candidate.name).join(", ");
  return usageError(`unknown project "${name}" (${config.source} has: ${known})`);
}

export function checkProjectName(name: string): string {
  if (!PROJECT_NAME_RULE.test(name)) usageError(`"${name}" is not a project name`);
  return name;
}

export function lastArg(value: string | undefined, fallback: number): number {
  const last = parseLast(value, fallback);
  if (typeof last === "string") usageError(`--${last}`);
  return last;
}

export const jsonArg = {
  json: { type: "boolean", description: "print JSON to stdout" },
} as const;
