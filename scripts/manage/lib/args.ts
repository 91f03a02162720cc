import { ManageError } from "../exit-codes.ts";
import type { WaitOptions } from "./health.ts";

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
    description: "seconds between two health checks",
  },
} as const;

export const yesArg = {
  yes: { type: "boolean", alias: "y", description: "do not ask for confirmation" },
} as const;

export function parseWait(args: { timeout?: unknown; interval?: unknown }): WaitOptions {
  return {
    timeoutMs: seconds(args.timeout, "--timeout") * 1000,
    intervalMs: Math.max(1, seconds(args.interval, "--interval") * 1000),
  };
}

function seconds(value: unknown, flag: string): number {
  const number = Number(value);
  if (value === undefined || value === "" || !Number.isFinite(number) || number < 0) {
    throw new ManageError("usage", `${flag} must be a number of seconds (got "${value}")`);
  }
  return number;
}
