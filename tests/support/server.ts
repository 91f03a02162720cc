import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { EmbeddedServer } from "../../src/devdb/embedded-server.ts";

const USER = "tester";

/** A free TCP port on loopback, found by letting the kernel pick one. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export async function startTestServer(): Promise<EmbeddedServer> {
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const server = new EmbeddedServer({
    dir: join(tmpdir(), `backupctl-test-${process.pid}-${randomBytes(4).toString("hex")}`),
    port: freePort(),
    user: USER,
    password,
    // Throwaway data: durability buys nothing here and costs seconds.
    settings: {
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      max_connections: "200",
    },
  });
  await server.initialise();
  await server.start();
  process.env.TEST_PG_PORT = String(server.options.port);
  process.env.TEST_PG_USER = USER;
  process.env.TEST_PG_PASSWORD = password;
  return server;
}

/** The preloaded test server's admin connection (database `postgres`). */
export function testServerConnection(database = "postgres"): ConnectionSettings {
  const { TEST_PG_PORT, TEST_PG_USER, TEST_PG_PASSWORD } = process.env;
  if (!TEST_PG_PORT || !TEST_PG_USER || !TEST_PG_PASSWORD) {
    throw new Error(
      "the test PostgreSQL is not running: run tests with `bun test` (bunfig.toml preloads it)",
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
