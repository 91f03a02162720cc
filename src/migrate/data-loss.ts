/**
 * The data-loss gate: every statement a migration sends is classified before it is sent. A
 * statement that can lose data (DROP TABLE, DROP COLUMN, TRUNCATE, DELETE or UPDATE without WHERE,
 * a column type change that rewrites or narrows, DROP SCHEMA, DROP TYPE) is asked of the database
 * whether it would here: a table with rows, a column with values, a type in use. Like Prisma's
 * `--accept-data-loss`, an empty table loses nothing, so a fresh database is never refused.
 *
 * Plain patterns rather than a SQL parser: this runs inside the compiled migrator, on the
 * statements TypeORM's helpers and migration authors write; squawk (a dev tool) lints the rest.
 * A statement hidden in a DO block or a function is not seen.
 */

import type { Queryable } from "./ledger.ts";

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const QUALIFIED = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;
const LIST = String.raw`${QUALIFIED}(?:\s*,\s*${QUALIFIED})*`;

/** A migration's reviewed data loss, per direction: `allowDataLoss = { down: "why" }`. */
export interface DataLossReview {
  up?: string;
  down?: string;
}

export type Direction = "up" | "down";

/** The reason a migration gives for losing data in this direction, if it gives one. */
export function reviewedReason(instance: unknown, direction: Direction): string | undefined {
  const review = (instance as { allowDataLoss?: DataLossReview }).allowDataLoss;
  const reason = review?.[direction];
  return typeof reason === "string" && reason.trim().length > 0 ? reason.trim() : undefined;
}

/** Comments and string literals out, so `-- DROP TABLE x` or `'DROP TABLE'` is not a statement. */
function code(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, " ")
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "''")
    .replace(/'(?:[^']|'')*'/g, "''");
}

/** Cheap first look: only these statements can lose data (an ALTER only if it drops or retypes). */
const CANDIDATE = /^\s*(?:drop|truncate|delete|update)\b|^\s*alter\b[\s\S]*\b(?:drop|type)\b/i;

/** Compiled once: the gate looks at every statement of every migration. */
const SHAPE = {
  dropTable: new RegExp(`^drop table (?:if exists )?(${LIST})`, "i"),
  truncate: new RegExp(`^truncate (?:table )?(?:only )?(${LIST})`, "i"),
  delete: new RegExp(`^delete from (?:only )?(${QUALIFIED})`, "i"),
  update: new RegExp(`^update (?:only )?(${QUALIFIED})`, "i"),
  alterTable: new RegExp(`^alter table (?:if exists )?(?:only )?(${QUALIFIED}) (.*)$`, "i"),
  dropSchema: new RegExp(`^drop schema (?:if exists )?(${LIST})`, "i"),
  dropType: new RegExp(`^drop type (?:if exists )?(${LIST})`, "i"),
  dropColumn: new RegExp(`^drop (?:column )?(?:if exists )?(${IDENT})(?: |$)`, "i"),
  retype: new RegExp(
    `^alter (?:column )?(${IDENT}) (?:set data )?type (.+?)(?: using .*| collate .*)?$`,
    "i",
  ),
  qualified: new RegExp(QUALIFIED, "g"),
};

/** How the statement would lose data here, or undefined when it would not. */
export async function dataLossOf(sql: string, db: Queryable): Promise<string | undefined> {
  for (const statement of code(sql).split(";")) {
    if (!CANDIDATE.test(statement)) continue;
    const loss = await classify(statement.trim().replace(/\s+/g, " "), db);
    if (loss) return loss;
  }
  return undefined;
}

async function classify(s: string, db: Queryable): Promise<string | undefined> {
  let m = SHAPE.dropTable.exec(s);
  if (m) return firstWithRows(split(m[1]), db, (t) => `drops table ${t}, which has rows`);
  m = SHAPE.truncate.exec(s);
  if (m) return firstWithRows(split(m[1]), db, (t) => `empties table ${t}, which has rows`);
  m = SHAPE.delete.exec(s);
  if (m && !/\bwhere\b/i.test(s))
    return firstWithRows([m[1] as string], db, (t) => `deletes every row of ${t}`);
  m = SHAPE.update.exec(s);
  if (m && !/\bwhere\b/i.test(s))
    return firstWithRows([m[1] as string], db, (t) => `overwrites every row of ${t}`);
  m = SHAPE.alterTable.exec(s);
  if (m) return alterTable(m[1] as string, m[2] as string, db);
  m = SHAPE.dropSchema.exec(s);
  if (m) {
    for (const schema of split(m[1])) {
      if (await yes(db, SCHEMA_HAS_TABLES, [unquote(schema)]))
        return `drops schema ${schema}, which holds tables`;
    }
    return undefined;
  }
  m = SHAPE.dropType.exec(s);
  if (m) {
    for (const type of split(m[1])) {
      if (await yes(db, TYPE_IN_USE, [type])) return `drops type ${type}, which a column uses`;
    }
  }
  return undefined;
}

async function alterTable(table: string, actions: string, db: Queryable) {
  // Each action of `ALTER TABLE t a, b, …`; commas inside parentheses (numeric(10,2)) stay.
  for (const action of actions.split(/,(?![^()]*\))/)) {
    const a = action.trim();
    const drop = SHAPE.dropColumn.exec(a);
    const word = drop?.[1]?.toLowerCase();
    if (drop && !["constraint", "default", "not", "identity", "expression"].includes(word ?? "")) {
      const column = drop[1] as string;
      if (await columnHasValues(table, column, db))
        return `drops column ${column} of ${table}, which holds values`;
      continue;
    }
    const retype = SHAPE.retype.exec(a);
    if (retype) {
      const column = retype[1] as string;
      const current = await columnType(table, column, db);
      if (
        current &&
        !keepsEveryValue(current, retype[2] as string) &&
        (await columnHasValues(table, column, db))
      )
        return `changes the type of ${table}.${column} from ${current} to ${retype[2]}, which rewrites or narrows its values`;
    }
  }
  return undefined;
}

/**
 * Conversions that keep every value: a longer or unbounded string, a wider integer, an integer or
 * numeric into a numeric with room for its digits, real into double precision, anything into
 * text. They may still rewrite the table (a lock, which lint reports), but lose nothing.
 */
export function keepsEveryValue(current: string, target: string): boolean {
  const to = canonicalType(target);
  const from = canonicalType(current);
  if (from === to || to === "text") return true;
  if (from.startsWith("timestamp without time zone") && to.startsWith("timestamp with time zone"))
    return true;
  if (/^(?:character varying|text)\b/.test(from) && to === "character varying") return true;
  const length = (type: string) => Number(/\((\d+)\)$/.exec(type)?.[1]);
  if (from.startsWith("character varying(") && to.startsWith("character varying(")) {
    return length(to) >= length(from);
  }
  const fromInteger = INTEGER_DIGITS[from];
  if (fromInteger !== undefined) {
    const toInteger = INTEGER_DIGITS[to];
    if (toInteger !== undefined) return toInteger >= fromInteger;
    const room = numericRoom(to);
    return room !== undefined && room.whole >= fromInteger;
  }
  const fromNumeric = numericRoom(from);
  const toNumeric = numericRoom(to);
  if (fromNumeric && toNumeric) {
    return toNumeric.whole >= fromNumeric.whole && toNumeric.scale >= fromNumeric.scale;
  }
  return from === "real" && to === "double precision";
}

/** Decimal digits each integer type holds. */
const INTEGER_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };

/** Digits before and after the point a numeric type holds; unbounded when it has no modifier. */
function numericRoom(type: string): { whole: number; scale: number } | undefined {
  if (type === "numeric")
    return { whole: Number.POSITIVE_INFINITY, scale: Number.POSITIVE_INFINITY };
  const m = /^numeric\((\d+)(?:,\s*(\d+))?\)$/.exec(type);
  if (!m) return undefined;
  const scale = Number(m[2] ?? 0);
  return { whole: Number(m[1]) - scale, scale };
}

/** A type as written in SQL in the spelling format_type() prints. */
function canonicalType(type: string): string {
  const t = type.trim().toLowerCase().replace(/\s+/g, " ");
  const alias: Record<string, string> = {
    int2: "smallint",
    int: "integer",
    int4: "integer",
    int8: "bigint",
    float4: "real",
    float8: "double precision",
    decimal: "numeric",
  };
  const [, base = t, modifier = ""] = /^([a-z0-9 ]+?)\s*(\(.*\))?$/.exec(t) ?? [];
  const name = base.replace(/^varchar$/, "character varying");
  return `${alias[name] ?? name}${modifier.replace(/\s+/g, "")}`;
}

const SCHEMA_HAS_TABLES = `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')) AS "yes"`;
const TYPE_IN_USE = `SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                      WHERE a.atttypid = to_regtype($1) AND NOT a.attisdropped AND a.attnum > 0
                        AND c.relkind IN ('r', 'p', 'm')) AS "yes"`;

async function firstWithRows(
  tables: string[],
  db: Queryable,
  say: (table: string) => string,
): Promise<string | undefined> {
  for (const table of tables) {
    // A table that does not exist loses nothing (and the statement fails on its own).
    if (!(await yes(db, `SELECT to_regclass($1) IS NOT NULL AS "yes"`, [table]))) continue;
    if (await yes(db, `SELECT EXISTS (SELECT 1 FROM ${table}) AS "yes"`)) return say(table);
  }
  return undefined;
}

async function columnType(table: string, column: string, db: Queryable) {
  const [row] = (await db.query(
    `SELECT format_type(atttypid, atttypmod) AS "type" FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped`,
    [table, unquote(column)],
  )) as { type: string }[];
  return row?.type;
}

async function columnHasValues(table: string, column: string, db: Queryable) {
  if (!(await columnType(table, column, db))) return false;
  const quoted = `"${unquote(column).replace(/"/g, '""')}"`;
  return yes(db, `SELECT EXISTS (SELECT 1 FROM ${table} WHERE ${quoted} IS NOT NULL) AS "yes"`);
}

async function yes(db: Queryable, sql: string, parameters?: unknown[]): Promise<boolean> {
  const [row] = (await db.query(sql, parameters)) as { yes: boolean }[];
  return Boolean(row?.yes);
}

function split(list: string | undefined): string[] {
  return (list ?? "").match(SHAPE.qualified) ?? [];
}

/** An identifier as PostgreSQL stores it: quoted as written, unquoted folded to lower case. */
function unquote(identifier: string): string {
  return identifier.startsWith('"')
    ? identifier.slice(1, -1).replace(/""/g, '"')
    : identifier.toLowerCase();
}
