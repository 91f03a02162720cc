import { createInterface } from "node:readline/promises";
import { ManageError } from "../../../src/cli/errors.ts";

/**
 * Asks before something destructive. Off a terminal (a script, CI) nobody can answer, so it
 * refuses unless --yes was given: exit 2, nothing changed.
 */
export async function confirm(warning: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new ManageError(
      "usage",
      `${warning} Pass --yes to confirm (there is no terminal to ask on); nothing was changed.`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${warning} Continue? [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) {
    throw new ManageError("usage", "cancelled: nothing was changed");
  }
}
