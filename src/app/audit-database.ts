import type { DataSource, DataSourceOptions } from "typeorm";
import { CliError } from "../cli/errors.ts";
import type { AuditLogPort } from "../domain/audit/audit-log.port.ts";
import { TypeormAuditLogRepository } from "../domain/audit/typeorm-audit-log.repository.ts";
import { isConnectError, openDataSource } from "../migrate/connect.ts";

/**
 * The audit database as the runtime uses it: connected on first use, and again on the next use
 * after a failed attempt, so a long-running service recovers when the database comes back.
 */
export class AuditDatabase {
  private opening: Promise<DataSource> | undefined;

  constructor(private readonly options: DataSourceOptions) {}

  /** Throws a CliError of kind "connect" when the database cannot be reached. */
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

/**
 * SQLSTATEs of a database that answers but cannot store runs yet: backup_log or one of its
 * columns is missing because this build was deployed before its migrations ran.
 */
const SCHEMA_NOT_READY = new Set(["42P01", "42703"]);

/**
 * True when `error` means the audit log cannot take runs right now: the database is unreachable,
 * or its schema is behind this build. Backups carry on without it (see RunRecorder); anything
 * else is a bug or bad data and fails loudly.
 */
export function isAuditUnavailable(error: unknown): boolean {
  if (error instanceof CliError) return error.kind === "connect";
  const { code } = (error ?? {}) as { code?: unknown };
  return isConnectError(error) || (typeof code === "string" && SCHEMA_NOT_READY.has(code));
}

/** A port for an audit log known to be unavailable: every call fails with the error that said so. */
export function unavailableAuditLog(error: unknown): AuditLogPort {
  const refuse = async (): Promise<never> => {
    throw error;
  };
  return {
    startRun: refuse,
    trackProgress: refuse,
    finishRun: refuse,
    findByProject: refuse,
    findFailed: refuse,
    findSince: refuse,
    findOrphaned: refuse,
  };
}
