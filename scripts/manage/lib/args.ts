import { parseSeconds } from "../../../src/cli/args.ts";
import { ManageError } from "../../../src/cli/errors.ts";
import type { HealthWait } from "./health.ts";

/** Argument fragments shared by the `./manage` commands. */

export const dirArg = {
  dir: {
    type: "string",
    description:
      "the backupctl checkout to manage (default: BACKUPCTL_HOME, else the folder of ./manage)",
  },
} as const;

export const dryRunArg = {
  "dry-run": {
    type: "boolean",
    description: "print the plan (every command it would run) and run nothing",
  },
} as const;

export const waitArgs = {
  timeout: {
    type: "string",
    default: "120",
    description: "seconds to wait for each service to become healthy",
  },
  interval: {
    type: "string",
    default: "2",
    description: "seconds between two health checks (at least 0.1)",
  },
} as const;

export const yesArg = {
  yes: { type: "boolean", alias: "y", description: "do not ask for confirmation" },
} as const;

/** Each health check runs `docker compose ps`: below this, waiting turns into busy-polling. */
export const MIN_INTERVAL_SECONDS = 0.1;

export function parseWait(args: { timeout?: unknown; interval?: unknown }): HealthWait {
  const interval = parseSeconds(args.interval, "--interval");
  if (interval < MIN_INTERVAL_SECONDS) {
    throw new ManageError(
      "usage",
      `--interval must be at least ${MIN_INTERVAL_SECONDS} s (got "${args.interval}"): each check runs docker compose ps`,
    );
  }
  return {
    timeoutMs: parseSeconds(args.timeout, "--timeout") * 1000,
    intervalMs: interval * 1000,
  };
}
