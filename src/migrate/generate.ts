import type { DataSource, QueryRunner } from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import {
  type Catalog,
  catalogChanges,
  catalogLines,
  describeChanges,
  readCatalog,
} from "./catalog.ts";
import { type Fix, fixesFor, ident, parseColumn } from "./catalog-fixes.ts";
import { MigrateError } from "./errors.ts";
import { ensureMetadataTable, firstLine } from "./executor.ts";
import { recordChanges } from "./judge.ts";
import { GENERATED_EXCEPTIONS } from "./lint.ts";
import { renderMigration, type SchemaQuery, toStatement } from "./migration-source.ts";
import { migrationFileName } from "./naming.ts";
import { recordSchema } from "./shadow.ts";
import { migrationStatus, pendingOf } from "./status.ts";

export type { SchemaQuery } from "./migration-source.ts";

/** A draft statement with the index of the up/down pair it belongs to, when TypeORM paired them. */
type DraftQuery = SchemaQuery & { pair?: number };

export interface SchemaDiff {
  /** Statements that bring the database to the record, in order. */
  up: SchemaQuery[];
  /** Statements that undo them, in the order they must run. */
  down: SchemaQuery[];
}

export interface LintHit {
  rule: string;
  statement: string;
  message: string;
}

export interface GenerateOptions {
  /** Connection options of the server the record database lives on. */
  base: PostgresDataSourceOptions;
  /** A DataSource whose entities are the record. */
  entities: DataSource;
  timestamp?: number;
  /**
   * SQL expression that fills a NOT NULL column added without a default to an existing table:
   * added nullable, filled, then set NOT NULL. Without it, generate refuses such a column.
   */
  backfill?: string;
  /** Lints the statements up() will run (squawk); the file allows each hit with its reason. */
  lint?: (statements: string[]) => Promise<LintHit[]>;
}

export interface GeneratedMigration {
  fileName: string;
  className: string;
  source: string;
  up: SchemaQuery[];
  down: SchemaQuery[];
  /** TypeORM statements left out because they change nothing in the catalog. */
  spurious: number;
  /** Statements written from the catalog where TypeORM's draft missed a difference. */
  added: number;
  /** One line each, for the user: casts back that can lose data. */
  warnings: string[];
  /** Lint hits of up(), each allowed in the file with the reason given. */
  lint: (LintHit & { reason: string })[];
}

/** What TypeORM's schema builder would change to make the database match the entities. */
export async function diffSchema(dataSource: DataSource): Promise<SchemaDiff> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  const clean = (q: { query: string; parameters?: unknown[] }): SchemaQuery => ({
    query: q.query.trimEnd(),
    ...(q.parameters?.length ? { parameters: q.parameters } : {}),
  });
  return { up: sql.upQueries.map(clean), down: sql.downQueries.map(clean).reverse() };
}

const refuse = (message: string) =>
  new MigrateError(
    "generateRefused",
    `${message}; write this change by hand: bun run dev migrate:create <Name>`,
  );

/**
 * Builds the migration that brings `target` (the shadow, or an up-to-date dev database) to the
 * record, judged by the catalog. TypeORM's SQL is the draft; it is tried on `target` inside a
 * transaction that is always rolled back: statements that change nothing are left out, columns
 * TypeORM would drop and add again are altered in place (the data kept through a cast), the
 * differences TypeORM missed are written from the catalog where their kind is known, and the
 * result must equal the record's catalog, and down() the catalog before, or it refuses.
 */
export async function generateMigration(
  target: DataSource,
  name: string,
  options: GenerateOptions,
): Promise<GeneratedMigration> {
  const file = migrationFileName(name, options.timestamp ?? Date.now());
  const pending = pendingOf(await migrationStatus(target));
  if (pending.length > 0) {
    throw new MigrateError(
      "pending",
      `the database has ${pending.length} pending migration(s) (${pending.map((m) => m.name).join(", ")}): run them first (bun run dev migrate:run), or the generated diff would repeat them`,
    );
  }
  const [{ catalog: record }, start, draft] = await Promise.all([
    recordSchema(options.base, options.entities),
    readCatalog(target),
    diffSchema(target),
  ]);
  if (recordChanges(record, start).length === 0) {
    const spurious = draft.up.length
      ? ` (TypeORM proposed ${draft.up.length} statement(s) that change nothing)`
      : "";
    throw new MigrateError(
      "nothingToDo",
      `No changes in database schema were found: the record and the migrations agree${spurious} (to write SQL by hand, use migrate:create)`,
    );
  }
  const database = String(target.options.database);
  // TypeORM pushes each up statement with the one that undoes it: with equal counts, the i-th up
  // pairs with the i-th down from the end, so a spurious up statement takes its down along.
  const paired = draft.up.length === draft.down.length;
  const tagged: { up: DraftQuery[]; down: DraftQuery[] } = {
    up: draft.up.map((q, i) => (paired ? { ...q, pair: i } : q)),
    down: draft.down.map((q, i) => (paired ? { ...q, pair: draft.down.length - 1 - i } : q)),
  };
  const rewritten = rewriteDraft(tagged, record, start, options.backfill, database);
  // Extensions the record needs come first: TypeORM's statements may use their types.
  const extensions = recordChanges(record, start).filter(
    (c) => c.key.startsWith("extension ") && c.right === undefined,
  );
  const { fixes: prelude } = fixesFor(extensions, start);
  const runner = target.createQueryRunner();
  try {
    await runner.startTransaction();
    await ensureMetadataTable(target, runner);
    for (const fix of prelude) for (const sql of fix.up) await attempt(runner, sql);
    const afterPrelude = prelude.length ? await readCatalog(runner) : start;
    const up = await trial(runner, rewritten.up, afterPrelude);
    let now = up.end;
    const fixes: Fix[] = [];
    for (let round = 0; round < 3; round++) {
      const { fixes: found } = fixesFor(recordChanges(record, now), now);
      if (found.length === 0) break;
      for (const fix of found) for (const sql of fix.up) await attempt(runner, sql);
      fixes.push(...found);
      now = await readCatalog(runner);
    }
    const remaining = recordChanges(record, now);
    if (remaining.length > 0) {
      throw refuse(
        `the record differs from the migrations in a way migrate:generate cannot write:\n${describeChanges(remaining).join("\n")}\n`,
      );
    }
    const fixDown = fixes.toReversed().flatMap((f) => f.down.map((query) => ({ query })));
    const preludeDown = prelude.toReversed().flatMap((f) => f.down.map((query) => ({ query })));
    const leftOut = new Set(rewritten.up.filter((q) => !up.kept.includes(q)).map((q) => q.pair));
    const draftDown = rewritten.down.filter((q) => q.pair === undefined || !leftOut.has(q.pair));
    const down = await trial(runner, [...fixDown, ...draftDown, ...preludeDown], now);
    const unrestored = catalogChanges(start, down.end);
    if (unrestored.length > 0) {
      throw refuse(
        `the down() drafted for this change does not restore the schema:\n${describeChanges(unrestored, ["before up() there was", "after down() there is"]).join("\n")}\n`,
      );
    }
    const upStatements = [
      ...prelude.flatMap((f) => f.up.map((query) => ({ query }))),
      ...up.kept.map(plain),
      ...fixes.flatMap((f) => f.up.map((query) => ({ query }))),
    ];
    const hits = options.lint ? await options.lint(upStatements.map((q) => q.query)) : [];
    const lint = hits.map((hit) => ({
      ...hit,
      reason:
        GENERATED_EXCEPTIONS[hit.rule] ??
        `generated from the record; squawk: ${hit.message.split(/(?<=\.) /)[0]}`,
    }));
    const allowed = [...new Map(lint.map((l) => [l.rule, l.reason])).entries()].map(
      ([rule, reason]) => `// squawk-ignore ${rule}: ${reason} (review before running)`,
    );
    return {
      fileName: file.fileName,
      className: file.className,
      source: renderMigration(
        file.className,
        upStatements.map(toStatement),
        down.kept.map(plain).map(toStatement),
        allowed,
      ),
      up: upStatements,
      down: down.kept.map(plain),
      spurious: rewritten.up.length - up.kept.length + rewritten.replaced,
      added: upStatements.length - up.kept.length,
      warnings: fixes.flatMap((f) => (f.warning ? [f.warning] : [])),
      lint,
    };
  } finally {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    await runner.release();
  }
}

function plain({ query, parameters }: DraftQuery): SchemaQuery {
  return parameters ? { query, parameters } : { query };
}

const DDL = /^\s*(CREATE|ALTER|DROP|COMMENT)\b/i;

/**
 * Runs the statements in order and keeps those that change the catalog: a statement, or a run of
 * statements, after which the catalog is as before it (TypeORM recreating an enum or a default
 * that PostgreSQL prints the same) is left out.
 */
async function trial(
  runner: QueryRunner,
  statements: readonly DraftQuery[],
  start: Catalog,
): Promise<{ kept: DraftQuery[]; end: Catalog }> {
  const snapshots = [catalogLines(start).join("\n")];
  let end = start;
  for (const statement of statements) {
    await attempt(runner, statement.query, statement.parameters);
    end = await readCatalog(runner);
    snapshots.push(catalogLines(end).join("\n"));
  }
  const kept: DraftQuery[] = [];
  for (let i = 0; i < statements.length; ) {
    let skipTo = -1;
    for (let j = statements.length - 1; j >= i; j--) {
      const ddlOnly = statements.slice(i, j + 1).every((s) => DDL.test(s.query));
      if (ddlOnly && snapshots[j + 1] === snapshots[i]) {
        skipTo = j + 1;
        break;
      }
    }
    if (skipTo >= 0) i = skipTo;
    else kept.push(statements[i++] as DraftQuery);
  }
  return { kept, end };
}

async function attempt(runner: QueryRunner, sql: string, parameters?: unknown[]): Promise<void> {
  try {
    await runner.query(sql, parameters);
  } catch (error) {
    throw refuse(`the statement ${sql} fails when tried (and rolled back): ${firstLine(error)}`);
  }
}

const ADD_COLUMN = /^ALTER TABLE ("(?:[^"]|"")+") ADD ("(?:[^"]|"")+") /;
const DROP_COLUMN = /^ALTER TABLE ("(?:[^"]|"")+") DROP COLUMN ("(?:[^"]|"")+")$/;

/**
 * TypeORM's draft made safe before it is tried: a column it drops and adds again (a type change)
 * is left to the catalog fixes, which alter it in place; a NOT NULL column without a default added
 * to an existing table is filled first (--backfill) or refused; the database's own name, which
 * TypeORM puts in its metadata rows, becomes current_database().
 */
function rewriteDraft(
  draft: { up: DraftQuery[]; down: DraftQuery[] },
  record: Catalog,
  start: Catalog,
  backfill: string | undefined,
  database: string,
): { up: DraftQuery[]; down: DraftQuery[]; replaced: number } {
  const pairs = (statements: DraftQuery[]) => {
    const added = new Set(statements.map((q) => ADD_COLUMN.exec(q.query)?.slice(1, 3).join(".")));
    const dropped = new Set(
      statements.map((q) => DROP_COLUMN.exec(q.query)?.slice(1, 3).join(".")),
    );
    return new Set([...added].filter((c) => c && dropped.has(c)));
  };
  const recreated = pairs(draft.up);
  const keep = (q: DraftQuery) => {
    const column = (ADD_COLUMN.exec(q.query) ?? DROP_COLUMN.exec(q.query))?.slice(1, 3).join(".");
    return !(column && recreated.has(column));
  };
  let up = draft.up.filter(keep);
  const down = draft.down.filter(keep);
  for (const change of recordChanges(record, start)) {
    if (!change.key.startsWith("column ") || change.right !== undefined || !change.left) continue;
    const column = parseColumn(change.left);
    const [table = "", name = ""] = change.key.slice("column ".length).split(/\.(.*)/s);
    if (!column?.notNull || column.default || column.generated || column.identity) continue;
    if (!start.has(`table ${table}`)) continue; // a new table has no rows
    if (backfill === undefined) {
      throw new MigrateError(
        "generateRefused",
        `the record adds the NOT NULL column ${table}.${name} without a default to an existing table: that migration fails on the first table with rows. Give it a default in the record, or pass --backfill "<SQL expression>" to add it nullable, fill it, then set NOT NULL`,
      );
    }
    const add = `ALTER TABLE ${ident(table)} ADD ${ident(name)} `;
    up = up.flatMap((q) =>
      q.query.startsWith(add)
        ? [
            { ...q, query: q.query.replace(/ NOT NULL\b/, "") },
            {
              query: `UPDATE ${ident(table)} SET ${ident(name)} = ${backfill} WHERE ${ident(name)} IS NULL`,
            },
            { query: `ALTER TABLE ${ident(table)} ALTER COLUMN ${ident(name)} SET NOT NULL` },
          ]
        : [q],
    );
  }
  const portable = (q: DraftQuery): DraftQuery => withoutDatabaseName(q, database);
  return {
    up: up.map(portable),
    down: down.map(portable),
    replaced: draft.up.length - draft.up.filter(keep).length,
  };
}

/**
 * TypeORM writes the database it diffed against (the shadow's name) into its typeorm_metadata
 * rows: that parameter becomes current_database(), so the migration holds no database name.
 */
function withoutDatabaseName(q: DraftQuery, database: string): DraftQuery {
  const index = q.parameters?.indexOf(database) ?? -1;
  if (!q.parameters || index < 0) return q;
  const n = index + 1;
  const query = q.query.replace(/\$(\d+)\b/g, (_, d: string) =>
    Number(d) === n ? "current_database()" : Number(d) > n ? `$${Number(d) - 1}` : `$${d}`,
  );
  const parameters = q.parameters.filter((_, i) => i !== index);
  const { parameters: _, ...rest } = q;
  return withoutDatabaseName(
    parameters.length ? { ...rest, query, parameters } : { ...rest, query },
    database,
  );
}
