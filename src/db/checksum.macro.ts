import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sourceChecksum } from "../migrate/checksum.ts";

/**
 * A Bun macro (imported `with { type: "macro" }` by the registry): runs when the registry is
 * transpiled (`bun run`, tests) or bundled (`bun run build`), so the binary carries the checksum
 * of the source it was built from and the dev toolkit the checksum of the file on disk.
 */
export function migrationChecksum(fileName: string): string {
  return sourceChecksum(
    readFileSync(join(import.meta.dir, "..", "..", "migrations", fileName), "utf8"),
  );
}
