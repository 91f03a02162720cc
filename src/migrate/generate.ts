import type { DataSource } from "typeorm";
import { MigrateError } from "./errors.ts";
import { migrationFileName } from "./naming.ts";
import { migrationStatus, pendingOf } from "./status.ts";

export interface SchemaQuery {
  query: string;
  parameters?: unknown[];
}

export interface SchemaDiff {
  /** Statements that bring the database to the record, in order. */
  up: SchemaQuery[];
  /** Statements that undo them, in the order they must run. */
  down: SchemaQuery[];
}

export interface GeneratedMigration {
  fileName: string;
  className: string;
  source: string;
  diff: SchemaDiff;
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

/**
 * Builds the migration that brings the database to the record. Refuses when migrations are
 * pending (the diff would repeat them) and when there is nothing to change.
 */
export async function generateMigration(
  dataSource: DataSource,
  name: string,
  timestamp: number = Date.now(),
): Promise<GeneratedMigration> {
  const file = migrationFileName(name, timestamp);
  const pending = pendingOf(await migrationStatus(dataSource));
  if (pending.length > 0) {
    throw new MigrateError(
      "pending",
      `the database has ${pending.length} pending migration(s) (${pending.map((m) => m.name).join(", ")}): run them first (bun run dev migrate:run), or the generated diff would repeat them`,
    );
  }
  const diff = await diffSchema(dataSource);
  if (diff.up.length === 0) {
    throw new MigrateError(
      "nothingToDo",
      "No changes in database schema were found: the record and the database agree (to write SQL by hand, use migrate:create)",
    );
  }
  const source = renderMigration(
    file.className,
    diff.up.map(toStatement),
    diff.down.map(toStatement),
  );
  return { fileName: file.fileName, className: file.className, source, diff };
}

/** The blank template of `migrate:create`: both methods refuse to run until they are written. */
export function emptyMigration(name: string, timestamp: number = Date.now()) {
  const file = migrationFileName(name, timestamp);
  const todo = (method: string) =>
    `throw new Error(\`\${this.name}: ${method}() is not written yet\`);`;
  return { ...file, source: renderMigration(file.className, [[todo("up")]], [[todo("down")]]) };
}

/** Line width of the project's formatter (biome.json): generated files must pass `biome check`. */
const LINE_WIDTH = 100;

/** One statement as source lines (relative indentation; SQL inside the literal is left as is). */
function toStatement(q: SchemaQuery): string[] {
  const sql = `\`${escapeTemplateLiteral(q.query)}\``;
  const params = q.parameters?.length ? JSON.stringify(q.parameters) : undefined;
  const oneLine = `await queryRunner.query(${params ? `${sql}, ${params}` : sql});`;
  if (`    ${oneLine}`.length <= LINE_WIDTH) return [oneLine];
  const args = params ? [sql, params] : [sql];
  return ["await queryRunner.query(", ...args.map((arg) => `  ${arg},`), ");"];
}

function escapeTemplateLiteral(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/`/g, "\\`").replace(/\$\{/g, "\\${");
}

function renderMigration(className: string, up: string[][], down: string[][]): string {
  const body = (statements: string[][]) =>
    statements
      .flat()
      .map((line) => `    ${line}`)
      .join("\n");
  return `import type { MigrationInterface, QueryRunner } from "typeorm";

export class ${className} implements MigrationInterface {
  name = "${className}";

  public async up(queryRunner: QueryRunner): Promise<void> {
${body(up)}
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
${body(down)}
  }
}
`;
}
