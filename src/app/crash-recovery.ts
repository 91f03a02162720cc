import { AuditLogError, type AuditLogPort } from "../domain/audit/audit-log.port.ts";
import { type BackupRun, isUnknownValue, rawValue } from "../domain/audit/backup-run.ts";
import { DEFAULT_TIMEOUT_SECONDS, type ProjectConfig } from "./project-config.ts";
import type { Clock } from "./run-recorder.ts";

export const CRASH_RECOVERY = "crash_recovery";

export interface RecoveryDeps {
  audit: AuditLogPort;
  clock: Clock;
  /** Runs that started before this and are still `started` are candidates. */
  olderThan: Date;
  /** True while a live process holds the project's lock on this host: its run is not orphaned. */
  isRunning: (project: string) => Promise<boolean>;
}

/**
 * Finishes as failed the runs a crashed backupctl left `started`, so the audit log does not show
 * them running forever. Returns the runs it finished.
 */
export async function recoverOrphans(deps: RecoveryDeps): Promise<BackupRun[]> {
  const recovered: BackupRun[] = [];
  for (const orphan of await deps.audit.findOrphaned(deps.olderThan)) {
    if (await deps.isRunning(orphan.projectName)) continue;
    const stage = orphan.currentStage;
    try {
      recovered.push(
        await deps.audit.finishRun(orphan.id, {
          status: "failed",
          completedAt: deps.clock(),
          errorStage: stage === null || isUnknownValue(stage) ? null : stage,
          errorMessage: `${CRASH_RECOVERY}: the process running this backup ended without finishing it (last stage: ${stage === null ? "none" : rawValue(stage)})`,
        }),
      );
    } catch (error) {
      // Its own process finished it meanwhile: nothing to recover.
      if (error instanceof AuditLogError && error.code === "RUN_ALREADY_FINISHED") continue;
      throw error;
    }
  }
  return recovered;
}

/**
 * How old a `started` run must be before it counts as orphaned: longer than any configured run
 * can take (every command at its timeout, a minute of slack). The lock check alone would do on
 * this host, but a run started elsewhere (another container, another state dir) holds no lock
 * here, and it must not be failed while it may still be running.
 */
export function orphanAgeMs(projects: readonly ProjectConfig[], retryDelayMs: number): number {
  const longest = projects.map((project) => {
    const commands = 1 + project.retries + (project.preHook ? 1 : 0) + (project.postHook ? 1 : 0);
    return commands * project.timeoutSeconds * 1000 + project.retries * retryDelayMs;
  });
  // Runs of projects since removed from the config get at least the default timeout.
  return Math.max(DEFAULT_TIMEOUT_SECONDS * 1000, ...longest) + 60_000;
}
