import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { defineCommand } from "citty";
import { AppError, usageError } from "../../cli/errors.ts";
import { out } from "../../cli/output.ts";
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
    await checkHost(args.host);
    const settings = readAppSettings();
    const config = await loadProjectsConfig(settings);
    const { db, password } = openAuditDatabase();
    // Listening first: a port in use fails before anything touches the database.
    const server = listen(port, args.host, () =>
      startHttpServer({
        port,
        hostname: args.host,
        health: () => checkHealth(() => db.dataSource()),
        auditLog: () => db.auditLog(),
        projects: config.projects.map((project) => project.name),
        secrets: [password],
      }),
    );
    // Not fatal when the database is down: /health then says so, and it reconnects by itself.
    await catchUpWithAuditLog(db, settings, config);
    out.success(`listening on http://${args.host}:${server.port}`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", resolve).once("SIGTERM", resolve);
    });
    out.progress(`received ${signal}: stopping`);
    await server.stop();
    await db.close();
  },
});

/** A host that is neither an IP address nor a name this machine resolves is a usage error. */
async function checkHost(host: string): Promise<void> {
  if (isIP(host) !== 0) return;
  try {
    await lookup(host);
  } catch {
    usageError(`--host "${host}" is not an IP address or a host name this machine can resolve`);
  }
}

/**
 * Starts the server, turning Bun's listen errors into one line with exit 22. (For a name Bun
 * cannot resolve it says "port in use", hence checkHost first.)
 */
function listen<T>(port: number, host: string, start: () => T): T {
  try {
    return start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${host}:${port}`;
    const reason =
      code === "EADDRINUSE"
        ? `port ${port} is in use on ${host}: stop what listens there, or choose another --port`
        : code === "EADDRNOTAVAIL"
          ? `${host} is not an address of this machine: choose another --host (0.0.0.0: every address)`
          : code === "EACCES"
            ? `not allowed to listen on ${where} (ports below 1024 need privileges)`
            : `${(error as Error).message}`;
    throw new AppError("cannotListen", `cannot listen on ${where}: ${reason}`, { cause: error });
  }
}
