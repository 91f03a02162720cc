import { relative } from "node:path";
import {
  type ArgDef,
  type ArgsDef,
  type CommandDef,
  type Resolvable,
  renderUsage,
  runCommand,
} from "citty";
import { redactKnown } from "../config/redact.ts";
import { CliError } from "./errors.ts";
import { EXIT_CODES } from "./exit-codes.ts";
import { out } from "./output.ts";

/**
 * Runs a citty command tree the way every CLI here behaves: `--help` anywhere shows usage, and a
 * failure becomes one `error: …` line and the exit code of its kind (README, "Exit codes"). Stack
 * traces only with DEBUG=1.
 */
export async function runCli<T extends ArgsDef>(
  main: CommandDef<T>,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  const name = String((main.meta as { name?: string } | undefined)?.name ?? "cli");
  const rawArgs = commandFirst(main as unknown as CommandDef, argv);
  // zx runs commands with `bash -c` and a socket as stdin; bash takes that for a remote shell
  // and sources ~/.bashrc unless SHLVL says it is nested (SHLVL is unset under cron or `env -i`,
  // and `bun run` sets it to 0). A heavy .bashrc then costs ~0.5 s per command.
  if (!(Number(process.env.SHLVL) >= 1)) process.env.SHLVL = "1";
  try {
    // Arguments after `--` belong to another program (psql): its --help is not ours.
    const own = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
    if ((rawArgs.length === 0 && !main.run) || own.includes("--help") || own.includes("-h")) {
      out.raw(process.stdout, await usageFor(main, rawArgs));
      return finish(EXIT_CODES.ok);
    }
    await assertKnownArguments(main as unknown as CommandDef, own, name);
    await runCommand(main, { rawArgs });
    // A command that ran another program (psql) may have set the exit code to pass on.
    finish(Number(process.exitCode ?? EXIT_CODES.ok));
  } catch (error) {
    finish(report(error, name));
  }
}

/**
 * Ends the process with `code` once its output is out. Bun's process.exit() drops what is still
 * buffered for a pipe (a CI log, `| tail`), the final error line included; ending by itself
 * keeps it. Whatever handle a command left open may delay that by a second at most.
 */
function finish(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}

/**
 * Options typed before the command (`bun run dev --db embedded migrate:show`) are the command's:
 * moved after it, where they are parsed and checked like any other.
 */
function commandFirst(main: CommandDef, args: string[]): string[] {
  if (!main.subCommands || !args[0]?.startsWith("-")) return args;
  if (args[0] === "--help" || args[0] === "-h") return args;
  const end = args.includes("--") ? args.indexOf("--") : args.length;
  const at = args.slice(0, end).findIndex((arg) => Object.hasOwn(main.subCommands as object, arg));
  return at > 0 ? [args[at] as string, ...args.slice(0, at), ...args.slice(at + 1)] : args;
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
  const usage = command ? await renderUsage(command, root) : await renderUsage(root);
  // citty pads every description to the widest one: trailing blanks a terminal cannot show.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes may follow the blanks
  return usage.replace(/[ \t]+((?:\x1b\[[0-9;]*m)*)$/gm, "$1");
}

const passThrough = new WeakSet<object>();

/** Marks a command whose unknown options belong to the program it runs (psql). */
export function allowUnknownOptions<C extends object>(command: C): C {
  passThrough.add(command);
  return command;
}

/**
 * citty ignores what it does not know: an unknown option (`migrate:revert --dry-run` would really
 * revert, a typo such as `--dryrun` would be dropped) and an extra word (`migrate:run
 * AddTagsToBackupLog` would run everything, not that one). Here both are usage errors, and an
 * unknown command gets the closest known one as a suggestion.
 */
async function assertKnownArguments(
  main: CommandDef,
  args: string[],
  cliName: string,
): Promise<void> {
  if (main.subCommands && args[0]?.startsWith("-")) {
    // No command named after the options (commandFirst found none): the first word after an
    // option would be taken for the command, e.g. `--db embedded` for a command "embedded".
    throw new CliError("usage", `options go after the command (see ${cliName} --help)`);
  }
  const sub = await subCommandOf(main, args);
  if (main.subCommands && sub.name !== undefined && !sub.command) {
    const hint = closestCommand(sub.name, Object.keys(main.subCommands));
    throw new CliError(
      "usage",
      `unknown command ${sub.name}${hint ? `: did you mean ${hint}?` : ""} (see ${cliName} --help)`,
    );
  }
  const command = main.subCommands ? sub.command : main;
  if (!command || passThrough.has(command)) return;
  const where = command === main ? cliName : `${cliName} ${sub.name}`;
  const options = new Map<string, ArgDef>();
  let positionals = 0;
  for (const [key, def] of Object.entries((command.args ?? {}) as ArgsDef)) {
    if (def.type === "positional") {
      positionals++;
      continue;
    }
    options.set(key, def);
    if (def.type === "boolean") options.set(`no-${key}`, def);
    const alias = "alias" in def ? def.alias : undefined;
    for (const a of Array.isArray(alias) ? alias : alias ? [alias] : []) options.set(a, def);
  }
  const words: string[] = [];
  const valued = new Set<ArgDef>();
  // The subcommand's own name is the first word; it is not one of its arguments.
  let rest = command === main ? args : args.slice(args.indexOf(sub.name as string) + 1);
  while (rest.length > 0) {
    const [arg, ...tail] = rest as [string, ...string[]];
    rest = tail;
    if (!arg.startsWith("-") || /^-\d/.test(arg)) {
      words.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const names = long ? [arg.slice(2).split("=")[0] as string] : [...arg.slice(1)];
    const unknown = names.find((n) => !options.has(n));
    if (unknown !== undefined) {
      throw new CliError(
        "usage",
        `unknown option ${long ? "--" : "-"}${unknown} (see ${where} --help)`,
      );
    }
    // An option that takes a value consumes the next word, unless given as --name=value.
    const last = options.get(names[names.length - 1] as string);
    if (last && last.type !== "boolean") {
      // Given twice, citty keeps the last: `--steps 1 … --steps 5` would revert five.
      if (valued.has(last)) {
        throw new CliError(
          "usage",
          `${long ? "--" : "-"}${names[names.length - 1]} is given twice: give it once (see ${where} --help)`,
        );
      }
      valued.add(last);
      if (!(long && arg.includes("="))) rest = rest.slice(1);
    }
  }
  if (words.length > positionals) {
    const extra = words[positionals] as string;
    const takes =
      positionals === 0
        ? "takes no arguments"
        : positionals === 1
          ? "takes one argument"
          : `takes at most ${positionals} arguments`;
    throw new CliError(
      "usage",
      `unexpected argument "${extra}": ${where} ${takes} (see ${where} --help)`,
    );
  }
}

/**
 * The known command nearest to a mistyped one, if near enough to be meant: edit distance at most
 * a third of its length (at least 1), TypeORM's `migration:` prefix read as `migrate:`.
 */
export function closestCommand(typed: string, known: readonly string[]): string | undefined {
  const wanted = typed.toLowerCase().replace(/^migrations?:/, "migrate:");
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(wanted, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  const limit = Math.max(1, Math.floor(wanted.length / 3));
  return best && best.distance <= limit ? best.name : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const above = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** Prints one line for the failure and returns its exit code. */
export function report(error: unknown, cliName: string): number {
  if (process.env.DEBUG && error instanceof Error) {
    console.error(redactKnown(error.stack ?? String(error)));
  }
  const syntax = sourceError(error);
  if (syntax) {
    out.error(syntax);
    return EXIT_CODES.usage;
  }
  if (error instanceof CliError) {
    out.error(error.message);
    return error.exitCode;
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
  throw new CliError("usage", message);
}
