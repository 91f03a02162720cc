import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  APP_EXIT_CODES,
  EXIT_CODE_RANGES,
  EXIT_CODES,
  MANAGE_EXIT_CODES,
  TOOLKIT_EXIT_CODES,
} from "../../src/cli/exit-codes.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";

/** README.md and docs/*.md: the exit-code tables may move to docs/ and must still be checked. */
async function documentation(): Promise<{ file: string; text: string }[]> {
  const docs = join(PROJECT_ROOT, "docs");
  let names: string[] = [];
  try {
    names = readdirSync(docs).filter((name) => name.endsWith(".md"));
  } catch {
    // No docs/ folder yet: the README holds every table.
  }
  const files = [join(PROJECT_ROOT, "README.md"), ...names.map((name) => join(docs, name))];
  return Promise.all(files.map(async (file) => ({ file, text: await Bun.file(file).text() })));
}

/** The codes in the first column of the table under the heading `heading` (any level). */
async function documentedCodes(heading: string): Promise<number[]> {
  const pattern = new RegExp(
    `^#{1,4} ${heading.replace(/[.*+?^${}()|[\]\\`]/g, "\\$&")}\\s*$`,
    "m",
  );
  const found = (await documentation()).filter(({ text }) => pattern.test(text));
  if (found.length !== 1) {
    throw new Error(
      `expected one "${heading}" section in README.md or docs/*.md, found ${found.length}`,
    );
  }
  const text = (found[0] as { text: string }).text;
  const section = text.slice((text.match(pattern)?.index ?? 0) + 1);
  const afterHeading = section.slice(section.indexOf("\n"));
  const body = afterHeading.slice(0, afterHeading.search(/\n#{1,4} /) >>> 0);
  // A row such as "5 …" (codes passed through from another program) is not one of ours.
  return [...body.matchAll(/^\| *(\d+) *\|/gm)].map((match) => Number(match[1]));
}

const codesOf = (registry: Record<string, number>) =>
  [...new Set(Object.values(registry))].sort((a, b) => a - b);

test.each([
  ["Exit codes", TOOLKIT_EXIT_CODES],
  ["backupctl exit codes", APP_EXIT_CODES],
  ["Exit codes of `./manage`", MANAGE_EXIT_CODES],
] as [string, Record<string, number>][])(
  "the table under %p lists exactly the codes of its registry",
  async (heading, registry) => {
    const documented = await documentedCodes(heading);
    expect([...documented].sort((a, b) => a - b)).toEqual(codesOf(registry));
  },
);

test("no two failures share a code", () => {
  const byCode = new Map<number, string[]>();
  for (const [kind, code] of Object.entries(EXIT_CODES))
    byCode.set(code, [...(byCode.get(code) ?? []), kind]);
  expect([...byCode.values()].filter((kinds) => kinds.length > 1)).toEqual([]);
});

test.each([
  ["toolkit", TOOLKIT_EXIT_CODES, {}],
  ["app", APP_EXIT_CODES, TOOLKIT_EXIT_CODES],
  ["manage", MANAGE_EXIT_CODES, TOOLKIT_EXIT_CODES],
] as const)("the %s's own codes lie in its range", (program, registry, shared) => {
  const range = EXIT_CODE_RANGES[program];
  const own = Object.entries(registry).filter(([kind]) => !(kind in shared));
  const outside = own.filter(
    ([, code]) =>
      !(
        (code >= range.from && code <= range.to) ||
        (range.signals as readonly number[]).includes(code)
      ),
  );
  expect(own.length).toBeGreaterThan(0);
  expect(outside).toEqual([]);
});
