import type { ConnectionSettings } from "../../src/config/connection.ts";
import { startTestServer, TEST_SERVER } from "./test-server-handle.ts";

export { freePort } from "../../src/devdb/throwaway.ts";

// One real PostgreSQL for the whole `bun test` run, started by the first test file that needs it
// (importing this module), unless `bun run test` started one for all its workers already; tests
// create their own databases on it. The preload stops the one started here.
if (!process.env.TEST_PG_PORT) TEST_SERVER.current = await startTestServer();

/** The test server's admin connection (database `postgres`). */
export function testServerConnection(database = "postgres"): ConnectionSettings {
  const { TEST_PG_PORT, TEST_PG_USER, TEST_PG_PASSWORD } = process.env;
  if (!TEST_PG_PORT || !TEST_PG_USER || !TEST_PG_PASSWORD) {
    throw new Error(
      "the test PostgreSQL is not running: run tests with `bun run test` or `bun test`",
    );
  }
  return {
    host: "127.0.0.1",
    port: Number(TEST_PG_PORT),
    user: TEST_PG_USER,
    password: TEST_PG_PASSWORD,
    database,
  };
}
