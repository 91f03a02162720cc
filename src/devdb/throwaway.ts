import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedServer, type EmbeddedServerOptions } from "./embedded-server.ts";

/** A free TCP port on loopback, found by letting the kernel pick one. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * A PostgreSQL server for one test run or one benchmark: a random port and password, data in
 * the system temp directory, durability off (the data is thrown away, and fsync costs seconds).
 * Password authentication (scram-sha-256) stays on, as on a real server.
 */
export async function startThrowawayServer(user = "tester"): Promise<EmbeddedServer> {
  const server = throwawayServer(user);
  await server.initialise();
  await server.start();
  return server;
}

/** The same server, not yet initialised: for a test that adds settings or files first. */
export function throwawayServer(
  user = "tester",
  extra: Pick<EmbeddedServerOptions, "settings" | "hbaRules"> = {},
): EmbeddedServer {
  return new EmbeddedServer({
    dir: join(tmpdir(), `backupctl-pg-${process.pid}-${randomBytes(4).toString("hex")}`),
    port: freePort(),
    user,
    password: `pw-${randomBytes(8).toString("hex")}`,
    settings: {
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      max_connections: "200",
      ...extra.settings,
    },
    hbaRules: extra.hbaRules,
  });
}
