import { defineCommand } from "citty";
import { out } from "../../cli/output.ts";
import { usageError } from "../../cli/run-cli.ts";
import { checkHealth } from "../health.ts";
import { startHttpServer } from "../http.ts";
import { loadProjectsConfig, readAppSettings } from "../settings.ts";
import { catchUpWithAuditLog, openAuditDatabase } from "./context.ts";

export const serve = defineCommand({
  meta: {
    name: "serve",
    description: "Serve GET /health and GET /status[/:project] over HTTP until SIGTERM",
  },
  args: {
    port: { type: "string", default: "8080", description: "TCP port (0: any free port)" },
    host: { type: "string", default: "0.0.0.0", description: "address to listen on" },
  },
  run: async ({ args }) => {
    const port = Number(args.port);
    if (!/^\d+$/.test(args.port) || port > 65535) {
      usageError(`--port must be a port number from 0 to 65535 (got "${args.port}")`);
    }
    const settings = readAppSettings();
    const config = await loadProjectsConfig(settings);
    const { db, password } = openAuditDatabase();
    // Not fatal when the database is down: /health then says so, and it reconnects by itself.
    await catchUpWithAuditLog(db, settings, config);
    const server = startHttpServer({
      port,
      hostname: args.host,
      health: () => checkHealth(() => db.dataSource()),
      auditLog: () => db.auditLog(),
      projects: config.projects.map((project) => project.name),
      secrets: [password],
    });
    out.success(`listening on http://${args.host}:${server.port}`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", resolve).once("SIGTERM", resolve);
    });
    out.progress(`received ${signal}: stopping`);
    await server.stop();
    await db.close();
  },
});
