import type { DataSource } from "typeorm";
import { toRecord } from "../domain/audit/backup-log.mapper.ts";
import { BackupLogRecord } from "../domain/audit/backup-log.record.ts";
import type { BackupRun } from "../domain/audit/backup-run.ts";
import { isAuditUnavailable } from "./audit-database.ts";
import { type AuditFallbackFile, parseFallbackLine } from "./audit-fallback.ts";

/**
 * Writes complete runs into backup_log, inserting those it does not have and overwriting those it
 * has by id: a run that was started in the database before it went away ends with the state the
 * fallback file recorded. The port has no "import a finished run" call, so this goes through the
 * record and the mapper directly.
 */
export async function replayRuns(
  dataSource: DataSource,
  runs: readonly BackupRun[],
): Promise<void> {
  await dataSource.getRepository(BackupLogRecord).save(runs.map(toRecord));
}

export interface ReplayReport {
  replayed: number;
  /** Lines left in the file for the next replay. */
  kept: number;
  /** Why lines were kept, e.g. `line 3: startedAt is not a valid date`. */
  problems: string[];
}

/**
 * Moves the fallback file's runs into the database, one line at a time. A line that is not a run
 * (a torn line) is moved to the `.corrupt` file and reported this once; a run the database
 * refuses stays; when the database goes away, the rest stay for the next replay.
 */
export async function replayFallback(
  dataSource: DataSource,
  file: AuditFallbackFile,
): Promise<ReplayReport> {
  let replayed = 0;
  const problems: string[] = [];
  const kept = await file.drain(async (line, lineNumber) => {
    let run: BackupRun;
    try {
      run = parseFallbackLine(line);
    } catch (error) {
      problems.push(
        `line ${lineNumber} is not a run (${(error as Error).message}): moved to ${file.corruptPath}`,
      );
      return "corrupt";
    }
    try {
      await replayRuns(dataSource, [run]);
    } catch (error) {
      problems.push(`line ${lineNumber} (run ${run.id}): ${(error as Error).message}`);
      return isAuditUnavailable(error) ? "stop" : "keep";
    }
    replayed++;
    return "replayed";
  });
  return { replayed, kept, problems };
}
