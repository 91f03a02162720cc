import { defineCommand } from "citty";
import type { DataSource } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { type MigrationContext, withContext } from "../../src/cli/migration-commands.ts";
import { out } from "../../src/cli/output.ts";
import { PROJECT_PATHS } from "../../src/db/paths.ts";
import { describeChanges } from "../../src/migrate/catalog.ts";
import { MigrateError } from "../../src/migrate/errors.ts";
import { addMigrationFile } from "../../src/migrate/files.ts";
import { generateMigration, type LintHit } from "../../src/migrate/generate.ts";
import { judgeSchema } from "../../src/migrate/judge.ts";
import { lintFindings } from "../../src/migrate/lint.ts";
import { openShadow } from "../../src/migrate/shadow.ts";
import { migrationStatus, pendingOf } from "../../src/migrate/status.ts";
import { dbArg, openDevDataSource } from "../lib/dev-env.ts";
import { runSquawk } from "../lib/squawk.ts";
import { nameArg, requireName } from "./files.ts";

export const migrateGenerate = defineCommand({
  meta: {
    name: "migrate:generate",
    description:
      "Write a migration from the difference between the record (*.record.ts) and the migrations",
  },
  args: {
    name: { ...nameArg.name, required: false },
    ...dbArg,
    against: {
      type: "string",
      default: "shadow",
      description:
        "diff against: shadow (a throwaway database with every migration applied) or dev (the dev database, which must be up to date)",
    },
    check: {
      type: "boolean",
      description: "write nothing; exit 0 when record and migrations agree, 6 when they differ",
    },
    "dry-run": {
      type: "boolean",
      description: "print the migration it would write, write nothing",
    },
    backfill: {
      type: "string",
      description:
        "SQL expression to fill a NOT NULL column added without a default: added nullable, filled, then set NOT NULL",
    },
  },
  run: async ({ args }) => {
    const name = args.check ? undefined : requireName(args.name, "migrate:generate");
    await withDiffTarget(args.db, String(args.against), async (ds, context) => {
      if (args.check || name === undefined) return checkInSync(ds, context);
      const migration = await generateMigration(ds, name, {
        base: context.dataSource.options as PostgresDataSourceOptions,
        entities: context.dataSource,
        ...(args.backfill === undefined ? {} : { backfill: String(args.backfill) }),
        lint: lintStatements,
      });
      if (migration.spurious > 0) {
        out.progress(
          `Left out ${migration.spurious} statement(s) of TypeORM's diff that change nothing in the catalog (or would drop and re-add a column)`,
        );
      }
      if (migration.added > 0) {
        out.progress(
          `Wrote ${migration.added} statement(s) from the catalog where TypeORM's diff missed or would lose data`,
        );
      }
      for (const warning of migration.warnings) out.warn(warning);
      for (const hit of migration.lint) {
        out.warn(
          `lint ${hit.rule}: ${hit.statement} (allowed in the file, reason: ${hit.reason}; review it)`,
        );
      }
      if (args["dry-run"]) {
        out.data(migration.source);
        return;
      }
      out.progress("The record differs from the migrations; the migration will run:");
      for (const q of migration.up) out.progress(`  ${q.query};`);
      const path = await addMigrationFile(PROJECT_PATHS, migration, name);
      out.data(path); // absolute: `bun run` starts scripts in the project root, not where the user is
      out.success(
        "Review it, check it (bun run dev migrate:check), then run it: bun run dev migrate:run",
      );
    });
  },
});

/** squawk's findings on the statements a generated up() runs. */
async function lintStatements(up: string[]): Promise<LintHit[]> {
  const inspection = { name: "generated", up, down: ["-"], restored: true, difference: [] };
  return lintFindings([inspection], await runSquawk([inspection]), new Map());
}

/**
 * Runs `work` on the database to diff the record against: the shadow database (built or reused
 * for the current migrations), or the dev database itself with --against dev.
 */
async function withDiffTarget(
  db: string | undefined,
  against: string,
  work: (ds: DataSource, context: MigrationContext) => Promise<void>,
) {
  if (against !== "shadow" && against !== "dev") {
    throw new MigrateError("usage", `--against must be shadow or dev (got "${against}")`);
  }
  await withContext(openDevDataSource(db), async (context) => {
    if (against === "dev") return work(context.dataSource, context);
    const shadow = await openShadow(
      context.dataSource.options as PostgresDataSourceOptions,
      context.checksums,
    );
    out.progress(
      `Diffing against the shadow database ${shadow.database} (${shadow.warm ? "reused" : "built from every migration"})`,
    );
    try {
      await work(shadow.dataSource, context);
    } finally {
      await shadow.dataSource.destroy();
    }
  });
}

async function checkInSync(ds: DataSource, context: MigrationContext): Promise<void> {
  const pending = pendingOf(await migrationStatus(ds));
  if (pending.length > 0) {
    throw new MigrateError(
      "pending",
      `${pending.length} migration(s) pending: run them before checking (bun run dev migrate:run)`,
    );
  }
  const { changes } = await judgeSchema(
    context.dataSource.options as PostgresDataSourceOptions,
    context.dataSource,
    ds,
  );
  if (changes.length === 0) {
    out.success("The record and the migrations agree: nothing to generate");
    return;
  }
  for (const line of describeChanges(changes)) out.data(line);
  throw new MigrateError(
    "schemaDrift",
    `the record and the migrations differ in ${changes.length} object(s): run migrate:generate`,
  );
}
