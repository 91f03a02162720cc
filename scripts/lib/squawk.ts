import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError } from "../../src/cli/errors.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import type { Inspection } from "../../src/migrate/inspect.ts";
import { EXCLUDED_RULES, type SquawkFinding, sqlForSquawk } from "../../src/migrate/lint.ts";

/** The PostgreSQL major version in the field: squawk judges locking behaviour for it. */
const FIELD_PG_VERSION = "16";

/**
 * squawk's own executable, from its platform package: node_modules/.bin/squawk is a Node script
 * that only starts it, and starting Node costs ten times squawk's whole run (0.13 s of CPU). The
 * script stays the fallback, as it names the package that is missing.
 */
function squawkBinary(): string {
  const executable = process.platform === "win32" ? "squawk.exe" : "squawk";
  try {
    return Bun.resolveSync(
      `@squawk-cli/${process.platform}-${process.arch}/bin/${executable}`,
      PROJECT_ROOT,
    );
  } catch {
    return join(PROJECT_ROOT, "node_modules", ".bin", "squawk");
  }
}

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
    const proc = Bun.spawn(
      [
        squawkBinary(),
        ...["--reporter", "json", "--pg-version", FIELD_PG_VERSION],
        ...["--exclude", Object.keys(EXCLUDED_RULES).join(","), ...files.keys()],
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    let findings: SquawkFinding[];
    try {
      findings = JSON.parse(stdout || "[]");
    } catch {
      throw new CliError(
        "internal",
        `squawk did not answer in JSON (exit ${exitCode}): ${stderr.trim().split("\n")[0]}`,
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
