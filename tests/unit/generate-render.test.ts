import { expect, test } from "bun:test";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { emptyMigration } from "../../src/migrate/migration-source.ts";
import { run } from "../support/project.ts";

async function biomeFormatted(source: string): Promise<string> {
  const proc = Bun.spawn(
    [join(PROJECT_ROOT, "node_modules", ".bin", "biome"), "format", "--stdin-file-path=m.ts"],
    {
      cwd: PROJECT_ROOT,
      stdin: new TextEncoder().encode(source),
      stdout: "pipe",
    },
  );
  return new Response(proc.stdout).text();
}

test("migrate:create's template is already formatted and refuses to run until written", async () => {
  const { source, className, fileName } = emptyMigration("AddTags", 1710820000000);
  expect(fileName).toBe("1710820000000-AddTags.ts");
  expect(source).toContain(`export class ${className} implements MigrationInterface`);
  expect(source).toContain(`name = "${className}";`);
  expect(await biomeFormatted(source)).toBe(source);
  const file = join(await mkdtemp(join(tmpdir(), "template-")), fileName);
  await Bun.write(file, source);
  const migration = new (await import(file))[className]();
  await expect(migration.up({})).rejects.toThrow("AddTags1710820000000: up() is not written yet");
  await expect(migration.down({})).rejects.toThrow(
    "AddTags1710820000000: down() is not written yet",
  );
});

test("the project's migrations pass biome (generated ones included; the registry is generated and excluded)", async () => {
  const result = await run(
    [
      join(PROJECT_ROOT, "node_modules", ".bin", "biome"),
      "check",
      "--error-on-warnings",
      "migrations",
    ],
    {
      cwd: PROJECT_ROOT,
    },
  );
  expect(result.exitCode).toBe(0);
});
