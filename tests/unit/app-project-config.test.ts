import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  DEFAULT_TIMEOUT_SECONDS,
  ProjectConfigError,
  parseProjectsConfig,
} from "../../src/app/project-config.ts";
import { ConfigError } from "../../src/cli/errors.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";

const where = { source: "config/projects.yml", baseDir: "/etc/backupctl" };

function problemsOf(text: string): readonly string[] {
  try {
    parseProjectsConfig(text, where);
  } catch (error) {
    expect(error).toBeInstanceOf(ProjectConfigError);
    return (error as ProjectConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

describe("valid project config", () => {
  test("fills in defaults and resolves a relative output against the config's folder", () => {
    const config = parseProjectsConfig(
      `projects:
  - name: shop
    command: pg_dump shop > "$BACKUPCTL_OUTPUT"
    output: dumps/shop.sql
`,
      where,
    );
    expect(config.projects).toEqual([
      {
        name: "shop",
        command: 'pg_dump shop > "$BACKUPCTL_OUTPUT"',
        output: "/etc/backupctl/dumps/shop.sql",
        preHook: null,
        postHook: null,
        retries: 0,
        timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
      },
    ]);
  });

  test("takes every key, keeps absolute outputs, treats an empty hook as none, merges x- anchors", () => {
    const config = parseProjectsConfig(
      `x-defaults: &defaults
  retries: 3
  timeout: 60
projects:
  - <<: *defaults
    name: blog_2
    command: tar -czf "$BACKUPCTL_OUTPUT" /srv/blog
    output: /var/backups/blog.tgz
    pre_hook: echo before
    post_hook:
`,
      where,
    );
    expect(config.projects[0]).toEqual({
      name: "blog_2",
      command: 'tar -czf "$BACKUPCTL_OUTPUT" /srv/blog',
      output: "/var/backups/blog.tgz",
      preHook: "echo before",
      postHook: null,
      retries: 3,
      timeoutSeconds: 60,
    });
  });

  test("the shipped example is valid", async () => {
    const text = await Bun.file(join(PROJECT_ROOT, "config", "projects.example.yml")).text();
    const config = parseProjectsConfig(text, where);
    expect(config.projects.map((project) => project.name)).toEqual(["shop", "uploads"]);
    expect(config.projects[0]).toMatchObject({ retries: 2, timeoutSeconds: 1800 });
  });
});

describe("invalid project config: every problem at once", () => {
  test("the brief's example: a bad retries, a misspelt key and a duplicate name together", () => {
    const text = `projects:
  - name: shop
    command: dump shop
    output: shop.sql
  - name: blog
    command: dump blog
    output: blog.sql
    retries: -1
  - name: cms
    comand: dump cms
    output: cms.sql
  - name: shop
    command: dump shop again
    output: shop2.sql
`;
    expect(problemsOf(text)).toEqual([
      "projects[1].retries must be a whole number ≥ 0 (got -1)",
      'projects[2]: unknown key "comand" (did you mean "command"?)',
      "projects[2].command is required",
      'duplicate project name "shop"',
    ]);
  });

  test("the message is one line naming the file, problems joined by '; '", () => {
    let error: unknown;
    try {
      parseProjectsConfig("projects:\n  - name: Shop\n    retries: 1.5\n", where);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    expect(message).toStartWith('config/projects.yml: projects[0].name "Shop" must be');
    expect(message).toContain("; projects[0].command is required; ");
    expect(message).toEndWith("projects[0].retries must be a whole number ≥ 0 (got 1.5)");
  });

  test.each([
    ["an empty file", "", ["must be a mapping with a `projects:` list"]],
    ["a list at the top", "- name: shop\n", ["must be a mapping with a `projects:` list"]],
    [
      "no projects key",
      "project:\n  - name: a\n",
      ['unknown key "project" (did you mean "projects"?)', "projects must be a non-empty list"],
    ],
    ["an empty projects list", "projects: []\n", ["projects must be a non-empty list"]],
    ["projects as a mapping", "projects:\n  shop: {}\n", ["projects must be a non-empty list"]],
    [
      "a project that is a string",
      "projects:\n  - shop\n",
      ["projects[0] must be a mapping (name, command, output, …)"],
    ],
  ])("%s", (_, text, expected) => {
    expect(problemsOf(text)).toEqual(expected);
  });

  test("YAML syntax errors name the line to look at", () => {
    const text = `projects:
  - name: shop
    command: echo "error: no" >&2
    output: x
`;
    expect(problemsOf(text)).toEqual([
      'not valid YAML near line 3 (Unexpected token; a value containing ": " or " #" needs quotes or a >- block)',
    ]);
    expect(problemsOf("projects: [\n")[0]).toStartWith("not valid YAML near line 1 ");
  });

  test("bad values of every key", () => {
    const text = `projects:
  - name: "-starts-with-dash"
    command: 42
    output: ""
    pre_hook: ["a", "b"]
    post_hook: "   "
    retries: "2"
    timeout: 0
    schedule: daily
  - name: ${"x".repeat(64)}
    command: ok
    output: ok
    timeout: 1.5
  - {}
`;
    expect(problemsOf(text)).toEqual([
      'projects[0]: unknown key "schedule"',
      'projects[0].name "-starts-with-dash" must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
      "projects[0].command must be a non-empty string",
      "projects[0].output must be a non-empty string",
      "projects[0].pre_hook must be a shell command (a non-empty string) or left out",
      "projects[0].post_hook must be a shell command (a non-empty string) or left out",
      'projects[0].retries must be a whole number ≥ 0 (got "2")',
      "projects[0].timeout must be a whole number of seconds from 1 to 604800 (7 days; there is no unlimited) (got 0)",
      `projects[1].name "${"x".repeat(64)}" must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit`,
      "projects[1].timeout must be a whole number of seconds from 1 to 604800 (7 days; there is no unlimited) (got 1.5)",
      "projects[2].name is required",
      "projects[2].command is required",
      "projects[2].output is required",
    ]);
  });

  test("a timeout past 7 days is refused, before a timer could overflow and fire at once", () => {
    const withTimeout = (timeout: number) =>
      `projects:\n  - name: a\n    command: x\n    output: x\n    timeout: ${timeout}\n`;
    expect(parseProjectsConfig(withTimeout(604800), where).projects[0]?.timeoutSeconds).toBe(
      604800,
    );
    for (const timeout of [604801, 2147484, 1e15]) {
      expect(problemsOf(withTimeout(timeout))).toEqual([
        `projects[0].timeout must be a whole number of seconds from 1 to 604800 (7 days; there is no unlimited) (got ${timeout})`,
      ]);
    }
  });

  test("names with shell or path characters are refused", () => {
    for (const name of ["a b", "a/b", "../x", "a;rm", "ÄBC", "a.b"]) {
      const text = `projects:\n  - name: ${JSON.stringify(name)}\n    command: x\n    output: x\n`;
      expect(problemsOf(text)).toHaveLength(1);
    }
  });

  test("unknown top-level keys are refused, x- keys are not", () => {
    const text = `x-anything: 1
version: 2
projects:
  - name: a
    command: x
    output: x
`;
    expect(problemsOf(text)).toEqual(['unknown key "version"']);
  });
});
