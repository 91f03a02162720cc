import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "../cli/errors.ts";

/**
 * The project config file (`config/projects.yml`): which backups exist and how each one runs.
 * Pure: text in, validated projects out, so every rule is unit-tested without files or processes.
 */

/** Project names end up in lock file names, audit rows and URLs: keep them to this alphabet. */
export const PROJECT_NAME_RULE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const DEFAULT_TIMEOUT_SECONDS = 3600;
export const DEFAULT_RETRIES = 0;
/**
 * The longest `timeout`: 7 days. There is no "no limit": a command that hangs would hold its
 * project's lock for good, and crash recovery needs a bound on how long a run can take. (Timers
 * also overflow past 2^31 - 1 ms, about 24.8 days, and then fire at once.)
 */
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;

export interface ProjectConfig {
  name: string;
  /** Shell text, run with `/bin/sh -c`; it writes the dump to $BACKUPCTL_OUTPUT. */
  command: string;
  /** Absolute path of the dump file (relative paths are resolved against the config file's folder). */
  output: string;
  preHook: string | null;
  postHook: string | null;
  /** How many times a failed dump is run again. */
  retries: number;
  /** Limit for each command the run starts (hooks and every dump attempt). */
  timeoutSeconds: number;
}

export interface ProjectsConfig {
  /** The file as the user named it, for messages. */
  source: string;
  /** The folder relative paths are resolved against; commands run there too. */
  baseDir: string;
  projects: ProjectConfig[];
}

/** Every problem of a config file at once, so one edit fixes them all. */
export class ProjectConfigError extends ConfigError {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    // One line, problems joined by "; ": every failure here ends in exactly one `error: …` line.
    super(`${source}: ${problems.join("; ")}`);
  }
}

const PROJECT_KEYS = ["name", "command", "output", "pre_hook", "post_hook", "retries", "timeout"];

/**
 * Top-level `x-…` keys are ignored (as in Compose files) so shared settings can live under an
 * anchor, e.g. `x-defaults: &defaults { retries: 2 }` then `<<: *defaults` in a project.
 */
const EXTENSION_KEY = /^x-/;

export function parseProjectsConfig(
  text: string,
  where: { source: string; baseDir: string },
): ProjectsConfig {
  let document: unknown;
  try {
    document = Bun.YAML.parse(text);
  } catch (error) {
    const reason = (error as Error).message.replace(/^YAML Parse error: /, "");
    throw new ProjectConfigError(where.source, [
      `not valid YAML near line ${firstBadLine(text)} (${reason}; a value containing ": " or " #" needs quotes or a >- block)`,
    ]);
  }
  const problems: string[] = [];
  const projects = readProjects(document, where.baseDir, problems);
  if (problems.length > 0) throw new ProjectConfigError(where.source, problems);
  return { source: where.source, baseDir: where.baseDir, projects };
}

/**
 * Bun's YAML errors carry no position: the first line whose prefix of the file no longer parses
 * is where to look (for a multi-line value, the line it starts on).
 */
function firstBadLine(text: string): number {
  const lines = text.split("\n");
  for (let end = 1; end <= lines.length; end++) {
    try {
      Bun.YAML.parse(lines.slice(0, end).join("\n"));
    } catch {
      return end;
    }
  }
  return lines.length;
}

function readProjects(document: unknown, baseDir: string, problems: string[]): ProjectConfig[] {
  if (!isMapping(document)) {
    problems.push("must be a mapping with a `projects:` list");
    return [];
  }
  for (const key of Object.keys(document)) {
    if (key !== "projects" && !EXTENSION_KEY.test(key))
      problems.push(unknownKey("", key, ["projects"]));
  }
  const list = document.projects;
  if (!Array.isArray(list) || list.length === 0) {
    problems.push("projects must be a non-empty list");
    return [];
  }
  const projects = list.map((entry, index) =>
    readProject(entry, `projects[${index}]`, baseDir, problems),
  );
  const seen = new Set<string>();
  for (const project of projects) {
    if (project === null) continue;
    if (seen.has(project.name)) problems.push(`duplicate project name "${project.name}"`);
    seen.add(project.name);
  }
  return projects.filter((project) => project !== null);
}

/** One project entry; its problems are added to `problems`, and null returned if there were any. */
function readProject(
  entry: unknown,
  at: string,
  baseDir: string,
  problems: string[],
): ProjectConfig | null {
  if (!isMapping(entry)) {
    problems.push(`${at} must be a mapping (name, command, output, …)`);
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(entry)) {
    if (!PROJECT_KEYS.includes(key)) problems.push(unknownKey(at, key, PROJECT_KEYS));
  }
  const name = requiredText(entry, "name", at, problems);
  if (name !== null && !PROJECT_NAME_RULE.test(name)) {
    problems.push(
      `${at}.name "${name}" must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit`,
    );
  }
  const command = requiredText(entry, "command", at, problems);
  const output = requiredText(entry, "output", at, problems);
  const preHook = optionalText(entry, "pre_hook", at, problems);
  const postHook = optionalText(entry, "post_hook", at, problems);
  const retries = wholeNumber(entry, "retries", DEFAULT_RETRIES, { min: 0 }, at, problems);
  const timeoutSeconds = wholeNumber(
    entry,
    "timeout",
    DEFAULT_TIMEOUT_SECONDS,
    { min: 1, max: MAX_TIMEOUT_SECONDS, unit: "seconds", why: "7 days; there is no unlimited" },
    at,
    problems,
  );
  if (problems.length > before || name === null || command === null || output === null) return null;
  return {
    name,
    command,
    output: isAbsolute(output) ? output : resolve(baseDir, output),
    preHook,
    postHook,
    retries,
    timeoutSeconds,
  };
}

function requiredText(
  entry: Record<string, unknown>,
  key: string,
  at: string,
  problems: string[],
): string | null {
  const value = entry[key];
  if (value === undefined || value === null) {
    problems.push(`${at}.${key} is required`);
    return null;
  }
  if (typeof value !== "string" || value.trim() === "") {
    problems.push(`${at}.${key} must be a non-empty string`);
    return null;
  }
  return value;
}

/** A key left out or left empty (`pre_hook:`) means "none". */
function optionalText(
  entry: Record<string, unknown>,
  key: string,
  at: string,
  problems: string[],
): string | null {
  const value = entry[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value.trim() === "") {
    problems.push(`${at}.${key} must be a shell command (a non-empty string) or left out`);
    return null;
  }
  return value;
}

interface NumberRange {
  min: number;
  max?: number;
  /** Said after "whole number", e.g. "seconds". */
  unit?: string;
  /** Why the maximum, said after it. */
  why?: string;
}

function wholeNumber(
  entry: Record<string, unknown>,
  key: string,
  fallback: number,
  range: NumberRange,
  at: string,
  problems: string[],
): number {
  const value = entry[key];
  if (value === undefined || value === null) return fallback;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (
    typeof value !== "number" ||
    !Number.isSafeInteger(value) ||
    value < range.min ||
    value > max
  ) {
    const what = `a whole number${range.unit ? ` of ${range.unit}` : ""}`;
    const bounds =
      range.max === undefined
        ? `≥ ${range.min}`
        : `from ${range.min} to ${range.max}${range.why ? ` (${range.why})` : ""}`;
    problems.push(`${at}.${key} must be ${what} ${bounds} (got ${JSON.stringify(value)})`);
    return fallback;
  }
  return value;
}

function unknownKey(at: string, key: string, known: readonly string[]): string {
  const suggestion = known.find((candidate) => editDistance(candidate, key) <= 2);
  const hint = suggestion ? ` (did you mean "${suggestion}"?)` : "";
  return `${at ? `${at}: ` : ""}unknown key "${key}"${hint}`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Levenshtein distance, for "did you mean" on misspelt keys. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
