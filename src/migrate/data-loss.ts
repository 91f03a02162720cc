/**
 * The data-loss gate: every statement a migration sends is classified before it is sent. A
 * statement that can lose data (DROP TABLE, DROP COLUMN, TRUNCATE, DELETE or UPDATE without WHERE,
 * a column type change that rewrites or narrows, DROP SCHEMA, DROP TYPE or DOMAIN, DROP EXTENSION or
 * COLLATION … CASCADE, TRUNCATE … CASCADE and the tables it reaches) is asked of the database
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
/** `t*` (the table and its children, PostgreSQL's old spelling) reads as `t`. */
const STAR = String.raw`(?:\s*\*)?`;
const LIST = String.raw`${QUALIFIED}${STAR}(?:\s*,\s*${QUALIFIED}${STAR})*`;

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

/**
 * The statement's code as PostgreSQL reads it: comments (nested block comments too) out, string
 * literals (standard, E'' with backslash escapes, dollar-quoted with any tag) emptied, quoted
 * identifiers kept whole and set apart by spaces (`FROM"t"` is `FROM "t"`). One pass, left to
 * right, so `'--'` is a string and `-- 'x` a comment.
 */
function code(sql: string): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const token = tokenAt(sql, i);
    if (token) {
      out += token.text;
      i = token.end;
    } else {
      out += sql[i];
      i++;
    }
  }
  return out;
}

/** The comment, literal or quoted identifier starting at `i`, and what it reads as. */
function tokenAt(sql: string, i: number): { end: number; text: string } | undefined {
  if (sql.startsWith("/*", i)) {
    let depth = 0;
    let end = i;
    do {
      if (sql.startsWith("/*", end)) {
        depth++;
        end += 2;
      } else if (sql.startsWith("*/", end)) {
        depth--;
        end += 2;
      } else end++;
    } while (depth > 0 && end < sql.length);
    return { end, text: " " };
  }
  const dollar = stickyMatch(TOKEN.dollarTag, sql, i);
  if (dollar && !/[\w$]/.test(sql[i - 1] ?? "")) {
    const close = sql.indexOf(dollar, i + dollar.length);
    return { end: close < 0 ? sql.length : close + dollar.length, text: "''" };
  }
  // E'…' only where E starts a word: `name'x'` is not an escape string.
  if (!/\w/.test(sql[i - 1] ?? "") && stickyMatch(TOKEN.escapeString, sql, i)) {
    return { end: i + (stickyMatch(TOKEN.escapeString, sql, i) as string).length, text: "''" };
  }
  for (const [pattern, text] of TOKEN.simple) {
    const match = stickyMatch(pattern, sql, i);
    if (match) return { end: i + match.length, text: text(match) };
  }
  return undefined;
}

function stickyMatch(pattern: RegExp, sql: string, i: number): string | undefined {
  pattern.lastIndex = i;
  return pattern.exec(sql)?.[0];
}

/** Sticky patterns: each matches only where the scanner stands. */
const TOKEN = {
  dollarTag: /\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/y,
  escapeString: /[eE]'(?:[^'\\]|\\[\s\S]|'')*'?/y,
  simple: [
    [/--[^\n]*/y, () => " "],
    [/'(?:[^']|'')*'?/y, () => "''"],
    [/"(?:[^"]|"")*"?/y, (identifier: string) => ` ${identifier} `],
  ] as [RegExp, (token: string) => string][],
};

/** Cheap first look: only these statements can lose data (an ALTER only if it drops or retypes). */
const CANDIDATE =
  /^\s*(?:drop|truncate|delete|update)\b|^\s*alter\b[\s\S]*\b(?:drop|type|rename)\b|^\s*(?:with|merge)\b[\s\S]*\b(?:delete|update)\b/i;

/** Compiled once: the gate looks at every statement of every migration. */
const SHAPE = {
  dropTable: new RegExp(`^drop table (?:if exists )?(${LIST})`, "i"),
  truncate: new RegExp(`^truncate (?:table )?(?:only )?(${LIST})`, "i"),
  delete: new RegExp(`^delete from (?:only )?(${QUALIFIED})${STAR}`, "i"),
  update: new RegExp(`^update (?:only )?(${QUALIFIED})${STAR}`, "i"),
  alterTable: new RegExp(`^alter table (?:if exists )?(?:only )?(${QUALIFIED})${STAR} (.*)$`, "i"),
  dropSchema: new RegExp(`^drop schema (?:if exists )?(${LIST})`, "i"),
  /** A domain is a type: its columns go with it (CASCADE). */
  dropType: new RegExp(`^drop (?:type|domain) (?:if exists )?(${LIST})`, "i"),
  /** With CASCADE, the columns of its types (extension) or collation go too. */
  dropCascading: new RegExp(
    `^drop (extension|collation) (?:if exists )?(${LIST}).* cascade\\b`,
    "i",
  ),
  dropColumn: new RegExp(`^drop (?:column )?(?:if exists )?(${IDENT})(?: |$)`, "i"),
  retype: new RegExp(
    `^alter (?:column )?(${IDENT}) (?:set data )?type (.+?)(?: collate \\S+)?(?: using (.*))?$`,
    "i",
  ),
  /** USING col::type or USING CAST(col AS type): the plain cast, values kept as the types allow. */
  castOf: new RegExp(`^(${IDENT}) ?:: ?[^()]+(?:\\([^()]*\\))?(?: ?\\[\\])*$`, "i"),
  castCall: new RegExp(`^cast ?\\( ?(${IDENT}) as [^()]+(?:\\([^()]*\\))?(?: ?\\[\\])* ?\\)$`, "i"),
  renameColumn: new RegExp(`^rename (?:column )?(${IDENT}) to (${IDENT})$`, "i"),
  renameTable: new RegExp(`^rename to (${IDENT})$`, "i"),
  /** A DELETE or UPDATE inside WITH … or MERGE: which table, not how many rows. */
  nestedChange: new RegExp(
    `\\b(?:delete from (?:only )?(${QUALIFIED})|update (?:only )?(${QUALIFIED}) set|merge into (?:only )?(${QUALIFIED}))`,
    "gi",
  ),
  qualified: new RegExp(QUALIFIED, "g"),
};

/**
 * How the statements would lose data here, or undefined when they would not. The database is
 * asked as it is before the string runs; a rename earlier in the same string is followed, so
 * `RENAME COLUMN a TO b; DROP COLUMN b` is judged by a's values.
 */
export async function dataLossOf(sql: string, db: Queryable): Promise<string | undefined> {
  const renamed: Renames = new Map();
  // Split at semicolons, not at one inside a quoted identifier (strings are already emptied).
  for (const statement of code(sql).match(/(?:"(?:[^"]|"")*"|[^;"])+/g) ?? []) {
    if (!CANDIDATE.test(statement)) continue;
    const loss = await classify(statement.trim().replace(/\s+/g, " "), db, renamed);
    if (loss) return loss;
  }
  return undefined;
}

/** Names given earlier in the same string (`table` or `table.column`) → the name they had. */
type Renames = Map<string, string>;

function original(renamed: Renames, name: string): string {
  return renamed.get(unquote(name)) ?? name;
}

function originalColumn(renamed: Renames, table: string, column: string): string {
  return renamed.get(`${unquote(table)}.${unquote(column)}`) ?? column;
}

/** A WHERE of the statement itself (not of a subquery) that can be false for some row. */
function filters(statement: string): boolean {
  let flat = statement;
  for (let i = 0; i < 10 && /\([^()]*\)/.test(flat); i++) flat = flat.replace(/\([^()]*\)/g, " ");
  const where = /\bwhere\b(.*)$/i.exec(flat)?.[1]?.trim() ?? "";
  // String literals are emptied before this ('t' reads as ''): a bare literal may be true.
  return where !== "" && !/^(?:true|1 ?= ?1|''|not false)(?: ?:: ?bool(?:ean)?)?$/i.test(where);
}

async function classify(s: string, db: Queryable, renamed: Renames): Promise<string | undefined> {
  if (/^(?:with|merge)\b/i.test(s)) {
    // Which rows a DELETE or UPDATE in a WITH or MERGE reaches cannot be told: rows are enough.
    for (const m of s.matchAll(SHAPE.nestedChange)) {
      const table = (m[1] ?? m[2] ?? m[3]) as string;
      const loss = await firstWithRows([original(renamed, table)], db, (t) =>
        m[2]
          ? `overwrites rows of ${t} (an UPDATE inside WITH)`
          : `deletes rows of ${t} (a DELETE inside WITH or MERGE)`,
      );
      if (loss) return loss;
    }
    return undefined;
  }
  for (const [shape, verb] of [
    [SHAPE.dropTable, "drops"],
    [SHAPE.truncate, "empties"],
  ] as const) {
    const listed = shape.exec(s)?.[1];
    if (listed === undefined) continue;
    const tables = split(listed).map((t) => original(renamed, t));
    if (shape === SHAPE.truncate && /\bcascade\b/i.test(s)) {
      // CASCADE empties every table whose foreign keys reach these, however deep (cycles too).
      for (const t of [...tables]) {
        for (const other of await referencing(t, db))
          if (!tables.includes(other)) tables.push(other);
      }
    }
    return firstWithRows(tables, db, (t) => `${verb} table ${t}, which has rows`);
  }
  let m = SHAPE.delete.exec(s);
  if (m && !filters(s))
    return firstWithRows(
      [original(renamed, m[1] as string)],
      db,
      (t) => `deletes every row of ${t}`,
    );
  m = SHAPE.update.exec(s);
  if (m && !filters(s))
    return firstWithRows(
      [original(renamed, m[1] as string)],
      db,
      (t) => `overwrites every row of ${t}`,
    );
  m = SHAPE.alterTable.exec(s);
  if (m) return alterTable(m[1] as string, m[2] as string, db, renamed);
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
  m = SHAPE.dropCascading.exec(s);
  if (m) {
    const kind = (m[1] as string).toLowerCase();
    for (const name of split(m[2])) {
      // A collation may be schema-qualified and quoted: to_regcollation reads it as written.
      const named = kind === "extension" ? unquote(name) : name;
      if (await yes(db, kind === "extension" ? EXTENSION_IN_USE : COLLATION_IN_USE, [named]))
        return `drops ${kind} ${name} with CASCADE, which drops the columns that use it`;
    }
  }
  return undefined;
}

/** Tables whose foreign keys reach `table`, directly or through others (TRUNCATE … CASCADE). */
async function referencing(table: string, db: Queryable): Promise<string[]> {
  const rows = (await db.query(
    `WITH RECURSIVE reached(oid) AS (
       SELECT to_regclass($1)::oid
       UNION
       SELECT c.conrelid FROM pg_constraint c JOIN reached r ON c.confrelid = r.oid
        WHERE c.contype = 'f')
     SELECT r.oid::regclass::text AS "name" FROM reached r WHERE r.oid <> to_regclass($1)::oid`,
    [table],
  )) as { name: string }[];
  return rows.map((row) => row.name);
}

async function alterTable(named: string, actions: string, db: Queryable, renamed: Renames) {
  const table = original(renamed, named);
  const renamedTable = SHAPE.renameTable.exec(actions.trim());
  if (renamedTable) {
    renamed.set(unquote(renamedTable[1] as string), table);
    return undefined;
  }
  // Each action of `ALTER TABLE t a, b, …`; commas inside parentheses (numeric(10,2)) stay.
  for (const action of actions.split(/,(?![^()]*\))/)) {
    const a = action.trim();
    const renamedColumn = SHAPE.renameColumn.exec(a);
    if (renamedColumn) {
      const [, from = "", to = ""] = renamedColumn;
      renamed.set(`${unquote(table)}.${unquote(to)}`, originalColumn(renamed, table, from));
      continue;
    }
    const drop = SHAPE.dropColumn.exec(a);
    const word = drop?.[1]?.toLowerCase();
    if (drop && !["constraint", "default", "not", "identity", "expression"].includes(word ?? "")) {
      const column = originalColumn(renamed, table, drop[1] as string);
      if (await columnHasValues(table, column, db))
        return `drops column ${column} of ${table}, which holds values`;
      continue;
    }
    const retype = SHAPE.retype.exec(a);
    if (retype) {
      const [, written = "", target = "", using] = retype;
      const column = originalColumn(renamed, table, written);
      const current = await columnType(table, column, db);
      // A USING other than the plain cast computes new values: only an empty column is safe.
      const cast =
        using === undefined
          ? undefined
          : (SHAPE.castOf.exec(using.trim()) ?? SHAPE.castCall.exec(using.trim()))?.[1];
      const plainCast =
        using === undefined || (cast !== undefined && unquote(cast) === unquote(written));
      if (
        current &&
        (!plainCast || !keepsEveryValue(current, target)) &&
        (await columnHasValues(table, column, db))
      ) {
        return plainCast
          ? `changes the type of ${table}.${column} from ${current} to ${target}, which rewrites or narrows its values`
          : `changes the type of ${table}.${column} computing new values (USING ${using?.trim()}), which may not keep its values`;
      }
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

const EXTENSION_IN_USE = `SELECT EXISTS (
  SELECT 1 FROM pg_depend d JOIN pg_attribute a ON a.atttypid = d.objid
    JOIN pg_class c ON c.oid = a.attrelid
   WHERE d.classid = 'pg_type'::regclass AND d.refclassid = 'pg_extension'::regclass
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = $1)
     AND NOT a.attisdropped AND a.attnum > 0 AND c.relkind IN ('r', 'p', 'm')) AS "yes"`;
const COLLATION_IN_USE = `SELECT EXISTS (
  SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_collation co ON co.oid = a.attcollation
   WHERE co.oid = to_regcollation($1) AND NOT a.attisdropped AND a.attnum > 0
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
