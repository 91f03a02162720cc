import pkg from "../../package.json" with { type: "json" };

// Replaced at compile time by scripts/build.ts (`--define`); `bun run` leaves them undefined.
declare const BUILD_VERSION: string | undefined;
declare const BUILD_REVISION: string | undefined;

export const BUILD = {
  version: typeof BUILD_VERSION === "string" ? BUILD_VERSION : pkg.version,
  revision: typeof BUILD_REVISION === "string" ? BUILD_REVISION : "source",
};
