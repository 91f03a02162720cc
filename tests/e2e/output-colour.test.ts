import { expect, test } from "bun:test";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { run } from "../support/project.ts";

// `script` gives the command a real terminal, the only place colour belongs.
const printsError = `import { out } from ${JSON.stringify(join(PROJECT_ROOT, "src/cli/output.ts"))}; out.error("boom");`;

async function onTerminal(env: Record<string, string>): Promise<string> {
  const command = `${process.execPath} -e '${printsError}'`;
  const result = await run(["script", "-qec", command, "/dev/null"], {
    cwd: PROJECT_ROOT,
    env: { TERM: "xterm-256color", ...env },
  });
  expect(result.exitCode).toBe(0);
  return result.stdout;
}

test("errors are red on a terminal", async () => {
  expect(await onTerminal({})).toContain("\x1b[31merror: boom");
});

test("NO_COLOR turns colour off, even on a terminal", async () => {
  const text = await onTerminal({ NO_COLOR: "1" });
  expect(text).toContain("error: boom");
  expect(text).not.toContain("\x1b[");
});

test("off a terminal there is no colour", async () => {
  const result = await run([process.execPath, "-e", printsError], { cwd: PROJECT_ROOT });
  expect(result.stderr).toBe("error: boom\n");
});

test("FORCE_COLOR asks for colour off a terminal too (CI logs), as styleText reads it", async () => {
  const result = await run([process.execPath, "-e", printsError], {
    cwd: PROJECT_ROOT,
    env: { FORCE_COLOR: "1" },
  });
  expect(result.stderr).toContain("\x1b[31merror: boom");
});
