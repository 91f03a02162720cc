import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { SHARED_HOME, switchesToPostgresUser } from "./embedded-server.ts";

/**
 * Where the embedded dev cluster of a checkout keeps its data. As root it runs as the postgres
 * user, who may not reach the checkout (/root is mode 700): its data then lives under
 * SHARED_HOME, keyed by the checkout's path, without touching the permissions of the user's
 * directories. A cluster already in .data/postgres stays where it is.
 */
export function devDataDir(root: string): string {
  const inCheckout = join(root, ".data", "postgres");
  if (!switchesToPostgresUser() || hasCluster(inCheckout)) return inCheckout;
  const key = createHash("sha256").update(root).digest("hex").slice(0, 12);
  return join(SHARED_HOME, "dev", `${basename(root)}-${key}`);
}

/** Whether an embedded cluster was created in this data directory. */
export function hasCluster(dir: string): boolean {
  return existsSync(join(dir, "pg", "PG_VERSION"));
}
