import { type BackupRun, rawValue } from "../domain/audit/backup-run.ts";

/**
 * A run as `--json` and the HTTP API show it: statuses and stages as the strings stored in
 * backup_log (known or not), times as ISO 8601.
 */
export function runToJson(run: BackupRun) {
  return {
    id: run.id,
    project: run.projectName,
    status: rawValue(run.status),
    stage: run.currentStage === null ? null : rawValue(run.currentStage),
    startedAt: run.startedAt.toISOString(),
    completedAt: run.completedAt?.toISOString() ?? null,
    durationMs: run.durationMs,
    dumpSizeBytes: run.dumpSizeBytes,
    verified: run.verified,
    retryCount: run.retryCount,
    errorStage: run.errorStage === null ? null : rawValue(run.errorStage),
    errorMessage: run.errorMessage,
  };
}

export type RunJson = ReturnType<typeof runToJson>;

/** Runs shown for one project when the caller does not say how many. */
export const DEFAULT_LAST = 10;
/** More is refused quietly: a status page is not an export. */
export const MAX_LAST = 100;

/**
 * How many runs to show (`?last=N`, `--last N`): a whole number ≥ 1, capped at MAX_LAST. A
 * string is the reason it is not one.
 */
export function parseLast(value: string | null | undefined, fallback: number): number | string {
  if (value === null || value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    return `last must be a whole number ≥ 1 (got "${value}"; at most ${MAX_LAST} runs are shown)`;
  }
  return Math.min(Number(value), MAX_LAST);
}
