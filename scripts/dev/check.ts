import { join } from "node:path";
import { defineCommand } from "citty";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { CliError } from "../../src/cli/errors.ts";
import type { FailureKind } from "../../src/cli/exit-codes.ts";
import { type MigrationContext, withContext } from "../../src/cli/migration-commands.ts";
import { out } from "../../src/cli/output.ts";
import { PROJECT_PATHS } from "../../src/db/paths.ts";
import { describeChanges } from "../../src/migrate/catalog.ts";
import { strayMigrationFiles } from "../../src/migrate/files.ts";
import { type Inspection, inspectMigrations } from "../../src/migrate/inspect.ts";
import { judgeSchema } from "../../src/migrate/judge.ts";
import { type LintFinding, lintFindings } from "../../src/migrate/lint.ts";
import { isRegistryCurrent, listMigrationFiles } from "../../src/migrate/registry.ts";
import { openShadow, withScratchDatabase } from "../../src/migrate/shadow.ts";
import { migrationStatus } from "../../src/migrate/status.ts";
import { dbArg, openDevDataSource } from "../lib/dev-env.ts";
import { runSquawk } from "../lib/squawk.ts";

/**
 * The machine-checked rules of the migration guide: migrate:lint, migrate:verify and
 * migrate:check (all of them, for CI). They run on throwaway databases on the dev server, never
 * on the dev database itself.
 */

/** Opens the dev database (syncing the registry unless told not to) for `work`. */
function withDevContext<T>(
  db: string | undefined,
  work: (context: MigrationContext) => Promise<T>,
  syncRegistry = true,
) {
  return withContext(openDevDataSource(db, { syncRegistry }), work);
}

function baseOptions(context: MigrationContext): PostgresDataSourceOptions {
  return context.dataSource.options as PostgresDataSourceOptions;
}

async function inspect(context: MigrationContext): Promise<Inspection[]> {
  return withScratchDatabase(baseOptions(context), (scratch) =>
    inspectMigrations(scratch, context.checksums),
  );
}

/** Each migration's source, for its `squawk-ignore` comments. */
async function migrationSources(): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  for (const file of listMigrationFiles(PROJECT_PATHS.migrationsDir)) {
    sources.set(
      file.className,
      await Bun.file(join(PROJECT_PATHS.migrationsDir, file.fileName)).text(),
    );
  }
  return sources;
}

async function lint(inspections: Inspection[]): Promise<LintFinding[]> {
  return lintFindings(inspections, await runSquawk(inspections), await migrationSources());
}

function printLint(findings: LintFinding[]): number {
  const blocking = findings.filter((f) => !f.allowed);
  for (const f of findings) {
    const line = `${f.migration}: ${f.rule}${f.allowed ? " (allowed by a squawk-ignore comment)" : ""}\n    ${f.statement}\n    ${f.message}`;
    if (f.allowed) out.progress(line);
    else out.data(line);
  }
  return blocking.length;
}

function printVerify(inspections: Inspection[]): string[] {
  const failed: string[] = [];
  for (const i of inspections) {
    if (i.error) {
      failed.push(i.name);
      out.data(`${i.name}: ${i.error}`);
    } else if (!i.restored) {
      failed.push(i.name);
      out.data(
        `${i.name}: down() does not restore the schema up() changed:\n${i.difference.map((d) => `    ${d}`).join("\n")}`,
      );
    } else out.progress(`ok ${i.name}${i.note ? ` (${i.note})` : ""}`);
  }
  return failed;
}

export const migrateLint = defineCommand({
  meta: {
    name: "migrate:lint",
    description:
      "Lint the SQL each migration runs (squawk: destructive and lock-heavy changes; empty down())",
  },
  args: { ...dbArg },
  run: ({ args }) =>
    withDevContext(args.db, async (context) => {
      const findings = await lint(await inspect(context));
      const blocking = printLint(findings);
      if (blocking > 0) {
        throw new CliError(
          "lint",
          `${blocking} lint finding(s); allow one after review with a \`// squawk-ignore <rule>: <why>\` comment in the migration`,
        );
      }
      out.success(`Lint clean (${findings.length} allowed after review)`);
    }),
});

export const migrateVerify = defineCommand({
  meta: {
    name: "migrate:verify",
    description:
      "Check every migration's down() restores the schema: up, down, compare, up, on a scratch database",
  },
  args: { ...dbArg },
  run: ({ args }) =>
    withDevContext(args.db, async (context) => {
      const failed = printVerify(await inspect(context));
      if (failed.length > 0)
        throw new CliError("irreversible", `not reversible: ${failed.join(", ")}`);
      out.success("Every migration's down() restores the schema");
    }),
});

export const migrateCheck = defineCommand({
  meta: {
    name: "migrate:check",
    description:
      "Every check, for CI: registry, record vs migrations, lint, reversibility (and edited applied migrations with --database)",
  },
  args: {
    ...dbArg,
    database: {
      type: "boolean",
      description:
        "also check that no migration applied in the configured database was edited since",
    },
  },
  run: ({ args }) =>
    withDevContext(
      args.db,
      async (context) => {
        const failures: { kind: FailureKind; what: string }[] = [];
        const report = (ok: boolean, kind: FailureKind, what: string) => {
          if (ok) out.success(`ok   ${what}`);
          else {
            failures.push({ kind, what });
            // Not an `error:` line: the one error line is the summary at the end.
            out.warn(`FAIL ${what}`);
          }
        };
        const stray = strayMigrationFiles(PROJECT_PATHS.migrationsDir);
        report(
          stray.length === 0,
          "registryStale",
          `every .ts file in migrations/ is named {timestamp}-{Name}.ts${stray.length ? `: not ${stray.join(", ")}` : ""}`,
        );
        report(
          await isRegistryCurrent(PROJECT_PATHS),
          "registryStale",
          "src/db/migrations.ts lists every migration (bun run dev migrate:registry)",
        );
        if (args.database) {
          const changed = (await migrationStatus(context.dataSource, context.checksums)).filter(
            (m) => m.checksum === "changed",
          );
          report(
            changed.length === 0,
            "checksum",
            `no applied migration edited${changed.length ? `: ${changed.map((m) => m.name).join(", ")}` : ""}`,
          );
        }
        const shadow = await openShadow(baseOptions(context), context.checksums);
        try {
          const { changes } = await judgeSchema(
            baseOptions(context),
            context.dataSource,
            shadow.dataSource,
          );
          for (const line of describeChanges(changes)) out.data(line);
          report(
            changes.length === 0,
            "schemaDrift",
            "the record matches the migrations (nothing to generate)",
          );
        } finally {
          await shadow.dataSource.destroy();
        }
        const inspections = await inspect(context);
        report(printLint(await lint(inspections)) === 0, "lint", "lint");
        report(printVerify(inspections).length === 0, "irreversible", "every migration reverts");
        const [first] = failures;
        if (first) {
          throw new CliError(
            first.kind,
            `${failures.length} check(s) failed: ${failures.map((f) => f.what.split(" (")[0]).join("; ")}`,
          );
        }
      },
      false,
    ),
});
