import { afterAll } from "bun:test";
import { TEST_SERVER } from "./test-server-handle.ts";

// The run's PostgreSQL starts when a test file first imports tests/support/server.ts (directly or
// through database.ts), so the unit tier never pays for a server. Whoever started it, it stops
// after the last test.
afterAll(async () => {
  await TEST_SERVER.current?.destroy();
});
