import { migrationFileName } from "./naming.ts";

/**
 * The source text of a migration file, as biome formats it: the `migrate:create` template and
 * what `migrate:generate` writes. Apart from the engine's TypeORM work, so `migrate:create`
 * loads no TypeORM.
 */

export interface SchemaQuery {
  query: string;
  parameters?: unknown[];
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
export function toStatement(q: SchemaQuery): string[] {
  const sql = `\`${escapeTemplateLiteral(q.query)}\``;
  const params = q.parameters?.length
    ? `[${q.parameters.map(sourceLiteral).join(", ")}]`
    : undefined;
  const oneLine = `await queryRunner.query(${params ? `${sql}, ${params}` : sql});`;
  if (`    ${oneLine}`.length <= LINE_WIDTH) return [oneLine];
  const args = params ? [sql, params] : [sql];
  return ["await queryRunner.query(", ...args.map((arg) => `  ${arg},`), ");"];
}

/** A value as biome writes it: double quotes, unless single ones need fewer escapes. */
function sourceLiteral(value: unknown): string {
  if (typeof value !== "string") return JSON.stringify(value);
  const doubles = (value.match(/"/g) ?? []).length;
  const singles = (value.match(/'/g) ?? []).length;
  if (doubles <= singles) return JSON.stringify(value);
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
}

function escapeTemplateLiteral(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/`/g, "\\`").replace(/\$\{/g, "\\${");
}

export function renderMigration(
  className: string,
  up: string[][],
  down: string[][],
  header: string[] = [],
): string {
  const body = (statements: string[][]) =>
    statements
      .flat()
      .map((line) => `    ${line}`)
      .join("\n");
  return `import type { MigrationInterface, QueryRunner } from "typeorm";
${header.map((line) => `${line}\n`).join("")}
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
