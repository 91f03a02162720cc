import { expect, test } from "bun:test";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { run } from "../support/project.ts";
import { testServerConnection } from "../support/server.ts";

test("a URL without a password, against a server that asks for one: exit 3 and why, not exit 1", async () => {
  const { port, user } = testServerConnection();
  const result = await run([process.execPath, "src/migrator/main.ts", "show", "--timeout", "0"], {
    cwd: PROJECT_ROOT,
    env: { NODE_ENV: "development", DATABASE_URL: `postgres://${user}@127.0.0.1:${port}/postgres` },
  });
  expect(result.exitCode).toBe(3);
  expect(result.stderr).toContain(
    "the server asks for a password and none is set (put it in DATABASE_URL, or set AUDIT_DB_PASSWORD)",
  );
  expect(result.stderr).not.toContain("SASL");
});
