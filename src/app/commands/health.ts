import { defineCommand } from "citty";
import { APP_EXIT_CODES } from "../../cli/exit-codes.ts";
import { out } from "../../cli/output.ts";
import { checkHealth, type HealthReport } from "../health.ts";
import { jsonArg, openAuditDatabase } from "./context.ts";

export const health = defineCommand({
  meta: {
    name: "health",
    description: `The checks of GET /health: exit 0 healthy, ${APP_EXIT_CODES.connect} database unreachable, ${APP_EXIT_CODES.pending} migrations pending`,
  },
  args: { ...jsonArg },
  run: async ({ args }) => {
    const { db } = openAuditDatabase();
    try {
      const report = await checkHealth(() => db.dataSource());
      const { database, migrations } = report.checks;
      if (args.json) out.data(JSON.stringify(report, null, 2));
      else {
        out.data(`database    ${database.ok ? "ok" : "unreachable"}`);
        out.data(`migrations  ${describeMigrations(migrations)}`);
      }
      if (!database.ok) {
        out.error(`unhealthy: ${database.error}`);
        process.exitCode = APP_EXIT_CODES.connect;
      } else if (!migrations.ok) {
        out.error(
          `unhealthy: ${migrations.error ?? `${migrations.pending.length} migration(s) pending: run the migrator`}`,
        );
        process.exitCode = APP_EXIT_CODES.pending;
      }
    } finally {
      await db.close();
    }
  },
});

function describeMigrations(migrations: HealthReport["checks"]["migrations"]): string {
  if (migrations.ok) return "ok";
  if (migrations.pending.length === 0) return migrations.error ?? "failed";
  return `${migrations.pending.length} pending: ${migrations.pending.join(", ")}`;
}
