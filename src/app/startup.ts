import type { DataSource } from "typeorm";
import type { BackupRun } from "../domain/audit/backup-run.ts";
import { TypeormAuditLogRepository } from "../domain/audit/typeorm-audit-log.repository.ts";
import type { AuditFallbackFile } from "./audit-fallback.ts";
import { orphanAgeMs, recoverOrphans } from "./crash-recovery.ts";
import { liveHolder } from "./file-lock.ts";
import type { ProjectConfig } from "./project-config.ts";
import { type ReplayReport, replayFallback } from "./replay.ts";
import type { Clock } from "./run-recorder.ts";

export interface CatchUpDeps {
  dataSource: DataSource;
  fallback: AuditFallbackFile;
  projects: readonly ProjectConfig[];
  lockPath: (project: string) => string;
  clock: Clock;
  retryDelayMs: number;
}

export interface CatchUpReport {
  replay: ReplayReport;
  recovered: BackupRun[];
}

/**
 * What `run` and `serve` do first once the audit database answers: bring it up to date with the
 * runs recorded while it was away, then close the runs a crash left open. In that order, so a run
 * the fallback file finished is not first marked as crashed.
 */
export async function catchUp(deps: CatchUpDeps): Promise<CatchUpReport> {
  const replay = await replayFallback(deps.dataSource, deps.fallback);
  const now = deps.clock().getTime();
  const recovered = await recoverOrphans({
    audit: new TypeormAuditLogRepository(deps.dataSource),
    clock: deps.clock,
    olderThan: new Date(now - orphanAgeMs(deps.projects, deps.retryDelayMs)),
    isRunning: async (project) => (await liveHolder(deps.lockPath(project))) !== null,
  });
  return { replay, recovered };
}
