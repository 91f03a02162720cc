import { type AppFailure, EXIT_CODES, type FailureKind, type ManageFailure } from "./exit-codes.ts";

/**
 * The one error type the CLIs know: a failure of a kind from the exit-code registry, with a
 * message that is safe to print (no secrets). `runCli` prints it as one `error: …` line and exits
 * with its code; anything else is a bug (exit 1). The engine, the app and `./manage` throw
 * subclasses that narrow the kinds they really produce.
 */
export class CliError<Kind extends FailureKind = FailureKind> extends Error {
  override name = "CliError";
  constructor(
    readonly kind: Kind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

/** Configuration that cannot work (environment, config file): a usage error, exit 2. */
export class ConfigError extends CliError<"usage"> {
  override name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("usage", message, options);
  }
}

/** Throws the usage error every command uses for bad flags. */
export function usageError(message: string): never {
  throw new CliError("usage", message);
}

/** A failure of `backupctl` (src/app), with one of the kinds it exits with. */
export class AppError extends CliError<AppFailure> {
  override name = "AppError";
}

/** A failure of `./manage`, with one of the kinds it exits with. */
export class ManageError extends CliError<ManageFailure> {
  override name = "ManageError";
}
