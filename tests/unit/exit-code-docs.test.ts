import { expect, test } from "bun:test";
import { join } from "node:path";
import { MANAGE_EXIT_CODES } from "../../scripts/manage/exit-codes.ts";
import { APP_EXIT_CODES } from "../../src/app/exit-codes.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";

/** The codes in the first column of the table under `heading` in README.md. */
async function documentedCodes(heading: string): Promise<number[]> {
  const readme = await Bun.file(join(PROJECT_ROOT, "README.md")).text();
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "${heading}" section`);
  const section = readme.slice(start + heading.length + 2);
  const body = section.slice(0, section.search(/\n#{1,3} /));
  return [...body.matchAll(/^\| (\d+)\b/gm)].map((match) => Number(match[1]));
}

test.each([
  ["### backupctl exit codes", APP_EXIT_CODES],
  ["### Exit codes of `./manage`", MANAGE_EXIT_CODES],
])("every code in the registry is in README's table %s", async (heading, registry) => {
  const documented = await documentedCodes(heading);
  const missing = Object.entries(registry).filter(([, code]) => !documented.includes(code));
  expect(missing).toEqual([]);
});
