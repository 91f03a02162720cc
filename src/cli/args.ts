import { createInterface } from "node:readline/promises";
import { CliError } from "./errors.ts";

/** The argument checks every CLI shares: one wording, one exit code (2, usage) for each. */

/** A flag given in seconds: a number ≥ `min` (fractions allowed), refused otherwise. */
export function parseSeconds(value: unknown, flag: string, min = 0): number {
  const seconds = value === undefined || value === "" ? Number.NaN : Number(value);
  if (!Number.isFinite(seconds) || seconds < min) {
    throw new CliError(
      "usage",
      `${flag} must be a number of seconds${min > 0 ? ` of at least ${min}` : ""} (got "${value}")`,
    );
  }
  return seconds;
}

/** A flag that counts things: a whole number in decimal digits, at least `min`. */
export function parseCount(value: unknown, flag: string, min = 0): number {
  const text = String(value);
  const count = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(count) || count < min) {
    throw new CliError(
      "usage",
      `${flag} must be a whole number of at least ${min} (got "${value}")`,
    );
  }
  return count;
}

/**
 * Asks before something destructive. Off a terminal (a script, CI) nobody can answer, so it
 * refuses unless --yes was given: exit 2, nothing changed.
 */
export async function confirm(warning: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new CliError(
      "usage",
      `${warning} Pass --yes to confirm (there is no terminal to ask on); nothing was changed.`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${warning} Continue? [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim()))
    throw new CliError("usage", "cancelled: nothing was changed");
}
