import { relative } from "node:path";
import { type ArgsDef, type CommandDef, type Resolvable, renderUsage, runCommand } from "citty";
import { ConfigError } from "../config/connection.ts";
import { EXIT_CODES, MigrateError } from "../migrate/errors.ts";
import { out } from "./output.ts";

/**
 * Runs a citty command tree the way every CLI here behaves: `--help` anywhere shows usage, and a
 * failure becomes one `error: …` line and the exit code of its kind (README, "Exit codes"). Stack
 * traces only with DEBUG=1.
 */
export async function runCli<T extends ArgsDef>(
  main: CommandDef<T>,
  rawArgs: string[] = process.argv.slice(2),
): Promise<never> {
  const name = String((main.meta as { name?: string } | undefined)?.name ?? "cli");
  // zx runs commands with `bash -c` and a socket as stdin; bash takes that for a remote shell
  // and sources ~/.bashrc unless SHLVL says it is nested (SHLVL is unset under cron or `env -i`,
  // and `bun run` sets it to 0). A heavy .bashrc then costs ~0.5 s per command.
  if (!(Number(process.env.SHLVL) >= 1)) process.env.SHLVL = "1";
  try {
    // Arguments after `--` belong to another program (psql): its --help is not ours.
    const own = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
    if ((rawArgs.length === 0 && !main.run) || own.includes("--help") || own.includes("-h")) {
      out.raw(process.stdout, await usageFor(main, rawArgs));
      process.exit(EXIT_CODES.ok);
    }
    await assertKnownOptions(main as unknown as CommandDef, own, name);
    await runCommand(main, { rawArgs });
    // A command that ran another program (psql) may have set the exit code to pass on.
    process.exit(Number(process.exitCode ?? EXIT_CODES.ok));
  } catch (error) {
    process.exit(report(error, name));
  }
}

/** The subcommand named by the first positional argument, loaded if it is loaded lazily. */
async function subCommandOf(
  main: CommandDef,
  args: string[],
): Promise<{ name?: string; command?: CommandDef }> {
  const name = args.find((arg) => !arg.startsWith("-"));
  const entry = name
    ? (main.subCommands as Record<string, Resolvable<CommandDef>> | undefined)?.[name]
    : undefined;
  const command =
    typeof entry === "function" ? await (entry as () => Promise<CommandDef>)() : await entry;
  return { name, command };
}

async function usageFor<T extends ArgsDef>(
  main: CommandDef<T>,
  rawArgs: string[],
): Promise<string> {
  const { command } = await subCommandOf(main as unknown as CommandDef, rawArgs);
  // citty's usage renderer is typed for the base args shape; the command is the same object.
  const root = main as unknown as CommandDef;
  return command ? renderUsage(command, root) : renderUsage(root);
}

const passThrough = new WeakSet<object>();

/** Marks a command whose unknown options belong to the program it runs (psql). */
export function allowUnknownOptions<C extends object>(command: C): C {
  passThrough.add(command);
  return command;
}

/**
 * citty ignores options it does not know, so `migrate:revert --dry-run` would really revert and
 * a typo such as `--dryrun` would be dropped silently. Here an unknown option is a usage error.
 */
async function assertKnownOptions(
  main: CommandDef,
  args: string[],
  cliName: string,
): Promise<void> {
  const sub = await subCommandOf(main, args);
  const subName = sub.name;
  const command = main.subCommands ? sub.command : main;
  if (!command || passThrough.has(command)) return;
  const known = new Set<string>();
  for (const [key, def] of Object.entries((command.args ?? {}) as ArgsDef)) {
    if (def.type === "positional") continue;
    known.add(key);
    if (def.type === "boolean") known.add(`no-${key}`);
    const alias = "alias" in def ? def.alias : undefined;
    for (const a of Array.isArray(alias) ? alias : alias ? [alias] : []) known.add(a);
  }
  for (const arg of args) {
    if (!arg.startsWith("-") || /^-\d/.test(arg)) continue;
    const names = arg.startsWith("--") ? [arg.slice(2).split("=")[0] as string] : [...arg.slice(1)];
    const unknown = names.find((n) => !known.has(n));
    if (unknown !== undefined) {
      const shown = arg.startsWith("--") ? `--${unknown}` : `-${unknown}`;
      const where = command === main ? cliName : `${cliName} ${subName}`;
      throw new MigrateError("usage", `unknown option ${shown} (see ${where} --help)`);
    }
  }
}

/** Prints one line for the failure and returns its exit code. */
export function report(error: unknown, cliName: string): number {
  if (process.env.DEBUG && error instanceof Error) console.error(error.stack ?? String(error));
  const syntax = sourceError(error);
  if (syntax) {
    out.error(syntax);
    return EXIT_CODES.usage;
  }
  if (error instanceof MigrateError) {
    out.error(error.message);
    return error.exitCode;
  }
  if (error instanceof ConfigError) {
    out.error(error.message);
    return EXIT_CODES.usage;
  }
  if (error instanceof Error && error.name === "CLIError") {
    out.error(`${error.message} (see ${cliName} --help)`);
    return EXIT_CODES.usage;
  }
  const message = error instanceof Error ? error.message : String(error);
  out.error(`${message.split("\n")[0]} (run with DEBUG=1 for details)`);
  return EXIT_CODES.internal;
}

/**
 * Bun's error for a source file it cannot parse (a migration with a syntax error): where, and
 * what, as `migrations/….ts:5:29: Expected ")" but found ";"`. Undefined for any other error.
 */
function sourceError(error: unknown): string | undefined {
  const all = error instanceof AggregateError ? error.errors : [error];
  for (const e of all as { name?: string; message?: string; position?: SourcePosition }[]) {
    const at = e?.name === "BuildMessage" ? e.position : undefined;
    if (at?.file)
      return `${relative(process.cwd(), at.file)}:${at.line}:${at.column}: ${e.message}`;
  }
  return undefined;
}

interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** Throws the usage error every command uses for bad flags. */
export function usageError(message: string): never {
  throw new MigrateError("usage", message);
}
