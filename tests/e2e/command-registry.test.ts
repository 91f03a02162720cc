import { expect, test } from "bun:test";
import { join } from "node:path";
import { MIGRATION_COMMAND_NAMES } from "../../src/cli/migration-commands.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { migratorCommands } from "../../src/migrator/commands.ts";
import { run } from "../support/project.ts";

// One definition of each shared migration command: dev, migrator and ./manage all offer it.

test("the migrator offers every shared migration command", () => {
  for (const name of MIGRATION_COMMAND_NAMES) expect(Object.keys(migratorCommands)).toContain(name);
});

test("bun run dev offers every shared migration command as migrate:<name>", async () => {
  const help = await run([process.execPath, "scripts/dev.ts", "--help"], { cwd: PROJECT_ROOT });
  expect(help.exitCode).toBe(0);
  for (const name of MIGRATION_COMMAND_NAMES) expect(help.stdout).toContain(` migrate:${name} `);
});

test("help has no trailing blanks (citty pads descriptions to the widest)", async () => {
  for (const args of [["--help"], ["migrate:run", "--help"]]) {
    const help = await run([process.execPath, "scripts/dev.ts", ...args], { cwd: PROJECT_ROOT });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("--");
    expect(help.stdout.split("\n").filter((line) => /[ \t]$/.test(line))).toEqual([]);
  }
});

test("./manage migrate accepts exactly the migrator's commands", async () => {
  const manage = join(PROJECT_ROOT, "manage");
  const refused = await run([manage, "migrate", "no-such-command"], { cwd: PROJECT_ROOT });
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toContain(`use ${Object.keys(migratorCommands).join(", ")}`);
});

test("listing the migrator's commands does not load TypeORM (./manage and --help stay fast)", async () => {
  const probe = await run(
    [
      process.execPath,
      "-e",
      'await import("./src/migrator/commands.ts"); console.log(Object.keys(require.cache).filter((k) => k.includes("/typeorm/")).length)',
    ],
    { cwd: PROJECT_ROOT },
  );
  expect(probe.stderr).toBe("");
  expect(probe.stdout.trim()).toBe("0");
});

test("an enum option (bun run build --only) refuses any other value: one line, exit 2", async () => {
  const result = await run([process.execPath, "scripts/build.ts", "--only", "nope"], {
    cwd: PROJECT_ROOT,
  });
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toBe(
    "error: Invalid value for argument: --only (nope). Expected one of: migrator, backupctl. (see bun run build --help)\n",
  );
});
