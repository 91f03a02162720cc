import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { CliError } from "../../src/cli/errors.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import type { Inspection } from "../../src/migrate/inspect.ts";
import { EXCLUDED_RULES, type SquawkFinding, sqlForSquawk } from "../../src/migrate/lint.ts";

/** The PostgreSQL major version in the field: squawk judges locking behaviour for it. */
const FIELD_PG_VERSION = "16";

/** Runs squawk once over every migration's up() SQL; findings by migration name. */
export async function runSquawk(
  inspections: readonly Inspection[],
): Promise<Map<string, SquawkFinding[]>> {
  const dir = await mkdtemp(join(tmpdir(), "backupctl-lint-"));
  try {
    const files = new Map<string, string>();
    for (const inspection of inspections.filter((i) => i.up.length > 0)) {
      const file = join(dir, `${inspection.name}.sql`);
      await writeFile(file, sqlForSquawk(inspection.up).text);
      files.set(file, inspection.name);
    }
    const byMigration = new Map<string, SquawkFinding[]>();
    if (files.size === 0) return byMigration;
    const squawk = join(PROJECT_ROOT, "node_modules", ".bin", "squawk");
    const result = await $({
      nothrow: true,
      quiet: true,
    })`${squawk} --reporter json --pg-version ${FIELD_PG_VERSION} --exclude ${Object.keys(EXCLUDED_RULES).join(",")} ${[...files.keys()]}`;
    let findings: SquawkFinding[];
    try {
      findings = JSON.parse(result.stdout || "[]");
    } catch {
      throw new CliError(
        "internal",
        `squawk did not answer in JSON (exit ${result.exitCode}): ${result.stderr.trim().split("\n")[0]}`,
      );
    }
    for (const finding of findings) {
      const name = files.get(finding.file);
      if (!name) continue;
      byMigration.set(name, [...(byMigration.get(name) ?? []), finding]);
    }
    return byMigration;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
