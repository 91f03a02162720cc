import { CliError } from "../cli/errors.ts";
import type { ToolkitFailure } from "../cli/exit-codes.ts";

/** A migration applied or reverted before a command failed. */
export interface DoneStep {
  name: string;
  durationMs?: number;
}

/**
 * A failure of the engine: one of the toolkit's kinds (src/cli/exit-codes.ts), and what the
 * failed command had completed before it failed. The CLIs print it like any CliError.
 */
export class MigrateError extends CliError<ToolkitFailure> {
  override name = "MigrateError";
  constructor(
    kind: ToolkitFailure,
    message: string,
    options?: { cause?: unknown; done?: readonly DoneStep[]; leftTransaction?: boolean },
  ) {
    super(kind, message, options);
    this.done = options?.done ?? [];
    this.leftTransaction = options?.leftTransaction ?? false;
  }

  /**
   * A migration's own SQL ended the transaction it ran in (COMMIT or ROLLBACK): what ran before
   * it in the same transaction (a dry run's earlier steps too) was not rolled back.
   */
  readonly leftTransaction: boolean;

  /** What the failed command had completed (applied or reverted) before it failed: that stays. */
  readonly done: readonly DoneStep[];
}
