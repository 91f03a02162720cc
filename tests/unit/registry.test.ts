import { expect, test } from "bun:test";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_PATHS } from "../../src/db/paths.ts";
import { isRegistryCurrent, renderRegistry, writeRegistry } from "../../src/migrate/registry.ts";

test("the committed registry lists exactly the files in migrations/ (run `bun run dev migrate:registry`)", async () => {
  expect(await Bun.file(PROJECT_PATHS.registryFile).text()).toBe(renderRegistry(PROJECT_PATHS));
});

test("a registry is stale when a migration file is added, and writeRegistry mends it", async () => {
  const root = await mkdtemp(join(tmpdir(), "registry-"));
  const paths = {
    migrationsDir: join(root, "migrations"),
    registryFile: join(root, "src", "db", "migrations.ts"),
  };
  await Bun.write(
    join(paths.migrationsDir, "1710720000000-First.ts"),
    "export class First1710720000000 {}\n",
  );
  expect(await writeRegistry(paths)).toBe(true);
  expect(await isRegistryCurrent(paths)).toBe(true);
  await writeFile(
    join(paths.migrationsDir, "1710720000001-Second.ts"),
    "export class Second1710720000001 {}\n",
  );
  await writeFile(join(paths.migrationsDir, "README.md"), "not a migration");
  expect(await isRegistryCurrent(paths)).toBe(false);
  expect(await writeRegistry(paths)).toBe(true);
  const text = await Bun.file(paths.registryFile).text();
  expect(text).toContain(
    'import { Second1710720000001 } from "../../migrations/1710720000001-Second";',
  );
  expect(text.indexOf("First1710720000000,")).toBeLessThan(text.indexOf("Second1710720000001,"));
  expect(text).not.toContain("README");
});
