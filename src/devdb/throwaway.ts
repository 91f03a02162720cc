import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
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
  await sweepOrphanedServers();
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
    dir: join(tmpdir(), `backupctl-pg-${process.pid}-${randomBytes(4).toString("hex")}`), // see sweepOrphanedServers
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

/**
 * Stops and deletes the throwaway servers of processes that are gone: a test run or benchmark
 * killed with -9 cannot stop its own, which would otherwise keep running and filling tmp. The
 * directory name carries the owner's pid; a live owner's server is left alone.
 */
export async function sweepOrphanedServers(dir = tmpdir()): Promise<string[]> {
  const swept: string[] = [];
  for (const name of readdirSync(dir)) {
    const owner = Number(/^backupctl-pg-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
    if (!owner || alive(owner)) continue;
    const path = join(dir, name);
    try {
      const postmaster = Number(
        readFileSync(join(path, "pg", "postmaster.pid"), "utf8").split("\n")[0],
      );
      // SIGQUIT: immediate shutdown (the data is thrown away); gone before its files are.
      if (postmaster && alive(postmaster) && servesFrom(postmaster, path)) {
        process.kill(postmaster, "SIGQUIT");
        for (let i = 0; i < 100 && alive(postmaster); i++) await Bun.sleep(50);
      }
    } catch {
      // No pid file: the server was not running.
    }
    rmSync(path, { recursive: true, force: true });
    swept.push(path);
  }
  return swept;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether `pid` is still the postgres of `dir` (a pid from an old pid file may be reused). */
function servesFrom(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
  } catch {
    return false; // no /proc to ask: leave it running rather than signal a stranger
  }
}
