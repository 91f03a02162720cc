import type { EmbeddedServer } from "../../src/devdb/embedded-server.ts";
import { startThrowawayServer } from "../../src/devdb/throwaway.ts";

/** The run's PostgreSQL once this process started it (see server.ts), for the preload to stop. */
export const TEST_SERVER: { current?: EmbeddedServer } = {};

/** Starts a throwaway PostgreSQL and tells the test helpers (and child processes) where it is. */
export async function startTestServer(): Promise<EmbeddedServer> {
  const server = await startThrowawayServer();
  process.env.TEST_PG_PORT = String(server.options.port);
  process.env.TEST_PG_USER = server.options.user;
  process.env.TEST_PG_PASSWORD = server.options.password;
  return server;
}
