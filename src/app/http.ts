import { redact } from "../config/redact.ts";
import type { AuditLogPort } from "../domain/audit/audit-log.port.ts";
import { isAuditUnavailable } from "./audit-database.ts";
import type { HealthReport } from "./health.ts";
import { PROJECT_NAME_RULE } from "./project-config.ts";
import { DEFAULT_LAST, parseLast, runToJson } from "./run-view.ts";

/**
 * The health and status service (`backupctl serve`): read-only JSON over HTTP. It never runs
 * migrations or backups.
 *
 *   GET /health               200 healthy, 503 unhealthy (database unreachable, migrations pending)
 *   GET /status               the last run of every configured project
 *   GET /status/:project      the project's last runs, newest first (?last=N, default 10, at most 100)
 */
export interface HttpDeps {
  /** 0 picks a free port (tests). */
  port: number;
  hostname?: string;
  health: () => Promise<HealthReport>;
  /** The audit log; throws a connection error while the database is unreachable. */
  auditLog: () => Promise<AuditLogPort>;
  /** The configured projects, in config order. */
  projects: readonly string[];
  /** Values never to send (the database password), on top of URL passwords. */
  secrets?: readonly string[];
}

export function startHttpServer(deps: HttpDeps) {
  const errorResponse = (status: number, message: string) =>
    Response.json({ error: redact(message, deps.secrets) }, { status });

  /** Runs a status query; an unavailable audit log is 503, as /health says it is. */
  const withAuditLog = async (work: (audit: AuditLogPort) => Promise<Response>) => {
    try {
      return await work(await deps.auditLog());
    } catch (error) {
      if (!isAuditUnavailable(error)) throw error;
      return errorResponse(503, `audit log unavailable: ${(error as Error).message}`);
    }
  };

  return Bun.serve({
    port: deps.port,
    hostname: deps.hostname,
    routes: {
      "/health": {
        GET: async () => {
          const report = redactHealth(await deps.health(), deps.secrets);
          return Response.json(report, { status: report.status === "ok" ? 200 : 503 });
        },
      },
      "/status": {
        GET: () =>
          withAuditLog(async (audit) => {
            const projects = await Promise.all(
              deps.projects.map(async (project) => {
                const [last] = await audit.findByProject(project, { limit: 1 });
                return { project, lastRun: last ? runToJson(last) : null };
              }),
            );
            return Response.json({ projects });
          }),
      },
      "/status/:project": {
        GET: (request) => {
          const { project } = request.params;
          const last = parseLast(new URL(request.url).searchParams.get("last"), DEFAULT_LAST);
          if (typeof last === "string") return errorResponse(400, last);
          if (!PROJECT_NAME_RULE.test(project))
            return errorResponse(404, `unknown project "${project}"`);
          return withAuditLog(async (audit) => {
            const runs = await audit.findByProject(project, { limit: last });
            // A project no longer configured still has its history; one with neither is unknown.
            if (runs.length === 0 && !deps.projects.includes(project)) {
              return errorResponse(404, `unknown project "${project}"`);
            }
            return Response.json({ project, runs: runs.map(runToJson) });
          });
        },
      },
    },
    fetch: (request) =>
      errorResponse(404, `no route for ${request.method} ${new URL(request.url).pathname}`),
    error: (error) => errorResponse(500, error.message.split("\n")[0] ?? "internal error"),
  });
}

function redactHealth(report: HealthReport, secrets?: readonly string[]): HealthReport {
  const { database, migrations } = report.checks;
  const clean = <T extends { error?: string }>(check: T): T =>
    check.error === undefined ? check : { ...check, error: redact(check.error, secrets) };
  return { ...report, checks: { database: clean(database), migrations: clean(migrations) } };
}
