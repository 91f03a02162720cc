import type { DataSource, DataSourceOptions } from "typeorm";
import type { AuditLogPort } from "../domain/audit/audit-log.port.ts";
import { TypeormAuditLogRepository } from "../domain/audit/typeorm-audit-log.repository.ts";
import { isConnectError, openDataSource } from "../migrate/connect.ts";
import { MigrateError } from "../migrate/errors.ts";

/**
 * The audit database as the runtime uses it: connected on first use, and again on the next use
 * after a failed attempt, so a long-running service recovers when the database comes back.
 */
export class AuditDatabase {
  private opening: Promise<DataSource> | undefined;

  constructor(private readonly options: DataSourceOptions) {}

  /** Throws MigrateError "connect" when the database cannot be reached. */
  dataSource(): Promise<DataSource> {
    this.opening ??= openDataSource(this.options).catch((error: unknown) => {
      this.opening = undefined;
      throw error;
    });
    return this.opening;
  }

  async auditLog(): Promise<AuditLogPort> {
    return new TypeormAuditLogRepository(await this.dataSource());
  }

  async close(): Promise<void> {
    const dataSource = await this.opening?.catch(() => undefined);
    this.opening = undefined;
    await dataSource?.destroy();
  }
}

/** True when `error` means the audit database cannot be reached (as opposed to a bug or bad data). */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof MigrateError) return error.kind === "connect";
  return isConnectError(error);
}

/** A port for a database known to be down: every call fails with the error that said so. */
export function unreachableAuditLog(error: unknown): AuditLogPort {
  const fail = async (): Promise<never> => {
    throw error;
  };
  return {
    startRun: fail,
    trackProgress: fail,
    finishRun: fail,
    findByProject: fail,
    findFailed: fail,
    findSince: fail,
    findOrphaned: fail,
  };
}
