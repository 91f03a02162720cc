import { afterAll } from "bun:test";
import { startTestServer } from "./server.ts";

// One real PostgreSQL for the whole `bun test` run; tests create their own databases on it.
const server = await startTestServer();
afterAll(async () => {
  await server.destroy();
});
