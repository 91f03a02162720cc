import { randomUUID } from "node:crypto";
import {
  type DataSource,
  type FindOptionsWhere,
  LessThan,
  MoreThanOrEqual,
  type Repository,
} from "typeorm";
import {
  AuditLogError,
  type AuditLogPort,
  type FindFailedOptions,
  type FindSinceOptions,
  type ListOptions,
  type StartRunInput,
} from "./audit-log.port.ts";
import { toDomain, toRecord } from "./backup-log.mapper.ts";
import { BackupLogRecord } from "./backup-log.record.ts";
import {
  applyResult,
  type BackupRun,
  type BackupStage,
  type BackupStatus,
  type RunResult,
  rawValue,
} from "./backup-run.ts";

/**
 * The audit log in PostgreSQL. Queries filter on the columns the record declares indexes for,
 * (project_name, started_at) and status; only `findSince` across all projects has started_at alone.
 */
export class TypeormAuditLogRepository implements AuditLogPort {
  private readonly records: Repository<BackupLogRecord>;

  constructor(private readonly dataSource: DataSource) {
    this.records = dataSource.getRepository(BackupLogRecord);
  }

  async startRun(input: StartRunInput): Promise<BackupRun> {
    const id = input.id ?? randomUUID();
    await this.records.insert({
      id,
      projectName: input.projectName,
      status: "started" satisfies BackupStatus,
      backupType: input.backupType ?? null,
      startedAt: input.startedAt ?? new Date(),
    });
    // Read back rather than assemble: the database fills created_at and the column defaults.
    return toDomain(await this.records.findOneByOrFail({ id }));
  }

  async trackProgress(id: string, stage: BackupStage): Promise<void> {
    const { affected } = await this.records.update({ id }, { currentStage: stage });
    if (affected === 0) throw AuditLogError.runNotFound(id);
  }

  async finishRun(id: string, result: RunResult): Promise<BackupRun> {
    const completedAt = result.completedAt ?? new Date();
    return this.dataSource.transaction(async (manager) => {
      // The row lock makes a concurrent finisher wait here, then read the status this one wrote.
      const record = await manager.findOne(BackupLogRecord, {
        where: { id },
        lock: { mode: "pessimistic_write" },
      });
      if (record === null) throw AuditLogError.runNotFound(id);
      const run = toDomain(record);
      if (run.status !== "started") throw AuditLogError.alreadyFinished(id, rawValue(run.status));
      const finished = applyResult(run, result, completedAt);
      await manager.save(toRecord(finished));
      return finished;
    });
  }

  async findByProject(projectName: string, options: ListOptions = {}): Promise<BackupRun[]> {
    return this.findRuns({ projectName }, "DESC", options.limit);
  }

  async findFailed(options: FindFailedOptions = {}): Promise<BackupRun[]> {
    return this.findRuns(
      { status: "failed" satisfies BackupStatus, ...projectFilter(options.projectName) },
      "DESC",
      options.limit,
    );
  }

  async findSince(since: Date, options: FindSinceOptions = {}): Promise<BackupRun[]> {
    return this.findRuns(
      { startedAt: MoreThanOrEqual(since), ...projectFilter(options.projectName) },
      "ASC",
    );
  }

  async findOrphaned(olderThan: Date): Promise<BackupRun[]> {
    return this.findRuns(
      { status: "started" satisfies BackupStatus, startedAt: LessThan(olderThan) },
      "ASC",
    );
  }

  private async findRuns(
    where: FindOptionsWhere<BackupLogRecord>,
    order: "ASC" | "DESC",
    limit?: number,
  ): Promise<BackupRun[]> {
    // Caught here so a caller's bad limit names itself instead of surfacing as a SQL error.
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
    }
    const records = await this.records.find({ where, order: { startedAt: order }, take: limit });
    return records.map(toDomain);
  }
}

/** An optional project filter; spelled out because TypeORM 1 rejects `undefined` in `where`. */
function projectFilter(projectName: string | undefined): FindOptionsWhere<BackupLogRecord> {
  return projectName === undefined ? {} : { projectName };
}
