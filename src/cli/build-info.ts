import pkg from "../../package.json" with { type: "json" };

// Replaced at compile time by scripts/build.ts (`--define`); `bun run` leaves them undefined.
declare const BUILD_VERSION: string | undefined;
declare const BUILD_REVISION: string | undefined;
declare const BUILD_MIGRATIONS: Record<string, string> | undefined;

export const BUILD = {
  version: typeof BUILD_VERSION === "string" ? BUILD_VERSION : pkg.version,
  revision: typeof BUILD_REVISION === "string" ? BUILD_REVISION : "source",
  /**
   * The registry's checksums by migration name, baked in by the build: `show` knows every
   * migration without evaluating a migration class (and with it TypeORM, most of a cold start).
   */
  migrations: typeof BUILD_MIGRATIONS === "object" ? BUILD_MIGRATIONS : undefined,
};
