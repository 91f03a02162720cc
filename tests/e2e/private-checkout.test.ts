import { expect, test } from "bun:test";
import { cp, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { dev, run } from "../support/project.ts";
import { freePort } from "../support/server.ts";

/**
 * A checkout in a private directory, as root in /root/backupctl (mode 700): the postgres user the
 * embedded server runs as cannot enter it. The dev workflow and the test suite must work there
 * anyway, without the toolkit changing that directory's permissions. As a normal user the server
 * runs as that user and the same steps must pass too.
 */
test("dev workflow and a database test file in a mode-700 checkout", async () => {
  const home = await mkdtemp(join(tmpdir(), "backupctl-private-")); // mode 700, like /root
  const cwd = join(home, "backupctl");
  for (const entry of [
    "package.json",
    "bunfig.toml",
    "tsconfig.json",
    "scripts",
    "src",
    "migrations",
    "tests",
  ]) {
    await cp(join(PROJECT_ROOT, entry), join(cwd, entry), { recursive: true });
  }
  // Hard links: a real copy of node_modules inside the private directory, in a fraction of a second.
  await $`cp -al ${join(PROJECT_ROOT, "node_modules")} ${join(cwd, "node_modules")}`;
  const env = { AUDIT_DB_PORT: String(freePort()), BACKUPCTL_DEV_DB: "embedded" };
  let data: string | undefined;
  try {
    const migrated = await dev(cwd, ["migrate:run"], env);
    expect(migrated.stderr).not.toContain("error");
    expect(migrated.exitCode).toBe(0);
    const status = JSON.parse((await dev(cwd, ["status", "--json"], env)).stdout);
    data = status.data as string;
    expect(status).toMatchObject({ running: true, reachable: true, pending: 0 });
    // As root the data lives where the postgres user can reach it, keyed by the checkout.
    if (process.getuid?.() === 0) expect(data.startsWith(home)).toBe(false);

    const tests = await run(
      [
        process.execPath,
        "test",
        "--timeout",
        "60000",
        "tests/integration/audit-repository.test.ts",
        "-t",
        "startRun",
      ],
      { cwd },
    );
    expect(tests.stderr).toContain(" 0 fail");
    expect(tests.stderr).toMatch(/ [1-9]\d* pass/);
    expect(tests.exitCode).toBe(0);

    expect((await stat(home)).mode & 0o777).toBe(0o700);
  } finally {
    await dev(cwd, ["down"], env);
    if (data) await rm(data, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }
  // Two clusters are created (the dev one and the copied suite's): ~11 s idle, minutes under load.
}, 180_000);
