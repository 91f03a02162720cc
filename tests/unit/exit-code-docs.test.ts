import { expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { MANAGE_EXIT_CODES } from "../../scripts/manage/exit-codes.ts";
import { APP_EXIT_CODES } from "../../src/app/exit-codes.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";

/** README.md and the pages under docs/ it links to: the exit-code tables live in one of them. */
async function documentation(): Promise<string[]> {
  const pages = (await readdir(join(PROJECT_ROOT, "docs"))).filter((name) => name.endsWith(".md"));
  const paths = ["README.md", ...pages.map((name) => join("docs", name))];
  return Promise.all(paths.map((path) => Bun.file(join(PROJECT_ROOT, path)).text()));
}

/** The codes in the first column of the table under the heading `title`, at any level. */
async function documentedCodes(title: string): Promise<number[]> {
  const heading = new RegExp(`^#{1,6} ${RegExp.escape(title)}\n`, "m");
  const page = (await documentation()).find((text) => heading.test(text));
  if (page === undefined)
    throw new Error(`no README.md or docs/*.md page has a "${title}" section`);
  const section = page.slice(page.search(heading)).replace(heading, "");
  const next = section.search(/^#{1,6} /m);
  const body = next < 0 ? section : section.slice(0, next);
  return [...body.matchAll(/^\| (\d+)\b/gm)].map((match) => Number(match[1]));
}

test.each([
  ["backupctl exit codes", APP_EXIT_CODES],
  ["Exit codes of `./manage`", MANAGE_EXIT_CODES],
])("every code in the registry is in the documented table %s", async (title, registry) => {
  const documented = await documentedCodes(title);
  const missing = Object.entries(registry).filter(([, code]) => !documented.includes(code));
  expect(missing).toEqual([]);
});
