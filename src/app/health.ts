import type { DataSource } from "typeorm";
import { migrationStatus, pendingOf } from "../migrate/status.ts";

export interface HealthReport {
  status: "ok" | "unhealthy";
  checks: {
    database: { ok: boolean; error?: string };
    migrations: { ok: boolean; pending: string[]; error?: string };
  };
}

/**
 * Healthy means: the audit database answers, and every migration this build knows is applied
 * (a build newer than its database would write columns that do not exist yet). Never migrates.
 */
export async function checkHealth(dataSource: () => Promise<DataSource>): Promise<HealthReport> {
  let ds: DataSource;
  try {
    ds = await dataSource();
    await ds.query("SELECT 1");
  } catch (error) {
    return {
      status: "unhealthy",
      checks: {
        database: { ok: false, error: messageOf(error) },
        migrations: { ok: false, pending: [], error: "not checked: the database is unreachable" },
      },
    };
  }
  let pending: string[];
  try {
    pending = pendingOf(await migrationStatus(ds)).map((migration) => migration.name);
  } catch (error) {
    return {
      status: "unhealthy",
      checks: {
        database: { ok: true },
        migrations: { ok: false, pending: [], error: messageOf(error) },
      },
    };
  }
  const ok = pending.length === 0;
  return {
    status: ok ? "ok" : "unhealthy",
    checks: { database: { ok: true }, migrations: { ok, pending } },
  };
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
