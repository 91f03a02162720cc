import { formatBytes } from "../../cli/format-bytes.ts";
import { type BackupRun, rawValue } from "../../domain/audit/backup-run.ts";

/** Text forms of runs for `status` and `logs`: one table row, or one block with the whole error. */

export function formatTable(rows: string[][]): string[] {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

export const STATUS_HEADER = ["PROJECT", "STATUS", "STARTED", "DURATION", "SIZE", "ERROR"];

export function statusRow(project: string, run: BackupRun | undefined): string[] {
  if (!run) return [project, "never run", "", "", "", ""];
  const error =
    run.errorStage === null ? "" : `${rawValue(run.errorStage)}: ${firstLine(run.errorMessage)}`;
  return [
    project,
    rawValue(run.status),
    formatTime(run.startedAt),
    run.durationMs === null ? "" : formatDuration(run.durationMs),
    run.dumpSizeBytes === null ? "" : formatBytes(run.dumpSizeBytes),
    error,
  ];
}

export function logBlock(run: BackupRun): string[] {
  const facts = [
    rawValue(run.status),
    run.currentStage === null ? null : `stage ${rawValue(run.currentStage)}`,
    run.durationMs === null ? null : formatDuration(run.durationMs),
    run.dumpSizeBytes === null ? null : formatBytes(run.dumpSizeBytes),
    run.retryCount > 0 ? `${run.retryCount} retr${run.retryCount === 1 ? "y" : "ies"}` : null,
  ].filter((fact) => fact !== null);
  const lines = [`${formatTime(run.startedAt)}  ${facts.join(", ")}  (run ${run.id})`];
  if (run.errorMessage !== null) {
    const stage = run.errorStage === null ? "" : `${rawValue(run.errorStage)}: `;
    lines.push(...`${stage}${run.errorMessage}`.split("\n").map((line) => `    ${line}`));
  }
  return lines;
}

export function formatTime(date: Date): string {
  return date
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return minutes < 60
    ? `${minutes} min ${seconds} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function firstLine(text: string | null): string {
  return (text ?? "").split("\n")[0] ?? "";
}
