import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import GithubSlugger from "github-slugger";
import { PROJECT_ROOT } from "../../src/db/paths.ts";

/** README.md, BENCHMARKS.md and every page under docs/, as paths inside the checkout. */
async function pages(): Promise<string[]> {
  const docs = (await readdir(join(PROJECT_ROOT, "docs"))).filter((name) => name.endsWith(".md"));
  return ["README.md", "BENCHMARKS.md", ...docs.map((name) => join("docs", name))];
}

/** The link targets of a page and the anchors its headings get on GitHub (and its `<a id>`s). */
function parse(markdown: string): { links: string[]; anchors: Set<string> } {
  const links: string[] = [];
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  // Bun's own Markdown parser: links inside code spans and fenced blocks are not links.
  Bun.markdown.render(markdown, {
    link: (children: string, meta: { href: string }) => {
      links.push(meta.href);
      return children;
    },
    heading: (children: string) => {
      anchors.add(slugger.slug(children));
      return children;
    },
  });
  for (const match of markdown.matchAll(/<a id="([^"]+)">/g)) anchors.add(match[1] as string);
  return { links, anchors };
}

test("every link between README.md and docs/ reaches an existing file and heading", async () => {
  const parsed = new Map<string, ReturnType<typeof parse>>();
  for (const page of await pages()) {
    parsed.set(page, parse(await Bun.file(join(PROJECT_ROOT, page)).text()));
  }
  const broken: string[] = [];
  let checked = 0;
  for (const [page, { links }] of parsed) {
    for (const link of links.filter((href) => !/^[a-z]+:/.test(href))) {
      checked++;
      const [path = "", anchor] = link.split("#");
      const target =
        path === "" ? page : relative(PROJECT_ROOT, join(PROJECT_ROOT, dirname(page), path));
      if (!existsSync(join(PROJECT_ROOT, target))) broken.push(`${page}: ${link} (no such file)`);
      else if (anchor !== undefined && !parsed.get(target)?.anchors.has(anchor)) {
        broken.push(`${page}: ${link} (no such heading)`);
      }
    }
  }
  expect(broken).toEqual([]);
  expect(checked).toBeGreaterThan(40);
});

test("no table row in README.md or docs/ is wider than 120 characters", async () => {
  const wide: string[] = [];
  for (const page of await pages()) {
    if (page === "BENCHMARKS.md") continue; // written by `bun run bench`, not by hand
    const lines = (await Bun.file(join(PROJECT_ROOT, page)).text()).split("\n");
    lines.forEach((line, index) => {
      if (line.startsWith("|") && line.length > 120)
        wide.push(`${page}:${index + 1} (${line.length})`);
    });
  }
  expect(wide).toEqual([]);
});
