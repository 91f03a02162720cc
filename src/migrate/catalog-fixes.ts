import type { Catalog, CatalogChange } from "./catalog.ts";
import { keepsEveryValue } from "./data-loss.ts";

/**
 * Statements for catalog differences whose kind is known, written from the catalogs themselves
 * (what PostgreSQL printed), so they reproduce the record exactly: a changed column (type, with
 * the data kept through a cast; nullability; default), a changed or renamed constraint or index,
 * enum values added, comments, an extension. Anything else is left for the caller to refuse.
 */
export interface Fix {
  up: string[];
  /** Undoes `up`, in the order it must run. */
  down: string[];
  /** A one-line warning for the user (a reverse cast that can lose precision). */
  warning?: string;
}

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

interface ColumnDef {
  type: string;
  collation?: string;
  notNull: boolean;
  default?: string;
  generated?: string;
  identity?: string;
}

/** Parses the column definition the catalog reader prints (see CATALOG_SQL). */
export function parseColumn(def: string): ColumnDef | undefined {
  const match =
    /^(.+?)(?: collate ("(?:[^"]|"")*"|\S+))? (not null|null)(?: default (.*?))?(?: generated always as \((.*)\) (stored|virtual))?(?: generated (always|by default) as identity)?$/.exec(
      def,
    );
  if (!match) return undefined;
  const [, type = "", collation, nullability, defaultExpr, generated, , identity] = match;
  return {
    type,
    ...(collation ? { collation } : {}),
    notNull: nullability === "not null",
    ...(defaultExpr !== undefined ? { default: defaultExpr } : {}),
    ...(generated !== undefined ? { generated } : {}),
    ...(identity ? { identity } : {}),
  };
}

function splitKey(key: string): { kind: string; table: string; name: string } {
  const [kind = "", rest = ""] = key.split(/ (.*)/s);
  const dot = rest.indexOf(".");
  return dot < 0
    ? { kind, table: "", name: rest }
    : { kind, table: rest.slice(0, dot), name: rest.slice(dot + 1) };
}

function columnFix(
  table: string,
  column: string,
  want: ColumnDef,
  have: ColumnDef,
): Fix | undefined {
  if (want.generated !== have.generated || want.identity !== have.identity) return undefined;
  const t = ident(table);
  const c = ident(column);
  const alter = (sql: string) => `ALTER TABLE ${t} ALTER COLUMN ${c} ${sql}`;
  const toward = (from: ColumnDef, to: ColumnDef): string[] => {
    const statements: string[] = [];
    const retype = from.type !== to.type || from.collation !== to.collation;
    const redefault = retype || from.default !== to.default;
    // A default of the old type may not cast to the new one: drop it first, set it after.
    if (redefault && from.default !== undefined) statements.push(alter("DROP DEFAULT"));
    if (retype) {
      const collate = to.collation ? ` COLLATE ${to.collation}` : "";
      statements.push(alter(`TYPE ${to.type}${collate} USING ${c}::${to.type}`));
    }
    if (redefault && to.default !== undefined) statements.push(alter(`SET DEFAULT ${to.default}`));
    if (from.notNull !== to.notNull)
      statements.push(alter(to.notNull ? "SET NOT NULL" : "DROP NOT NULL"));
    return statements;
  };
  const fix: Fix = { up: toward(have, want), down: toward(want, have) };
  // Either way may round or truncate: the data-loss gate then asks at run time (on a table with
  // values) for --allow-data-loss or the migration's reviewed reason. generate only says so.
  const lossy = [
    !keepsEveryValue(have.type, want.type) && "up() casts it",
    !keepsEveryValue(want.type, have.type) && `down() casts it back to ${have.type}`,
  ].filter(Boolean);
  if (have.type !== want.type && lossy.length > 0) {
    fix.warning = `${table}.${column} changes type ${have.type} → ${want.type}: ${lossy.join(" and ")}, which can lose precision or fail on values that do not fit; on a table with values the data-loss gate asks for --allow-data-loss, or a reason in allowDataLoss`;
  }
  return fix;
}

function commentTarget(name: string): string | undefined {
  const { kind, table, name: object } = splitKey(name);
  if (kind === "table" || kind === "view") return `${kind.toUpperCase()} ${ident(object)}`;
  if (kind === "column") return `COLUMN ${ident(table)}.${ident(object)}`;
  if (kind === "enum") return `TYPE ${ident(object)}`;
  if (kind === "constraint") return `CONSTRAINT ${ident(object)} ON ${ident(table)}`;
  if (kind === "index") return `INDEX ${ident(object)}`;
  return undefined;
}

function labels(def: string): string[] {
  return [...def.matchAll(/'((?:[^']|'')*)'/g)].map((m) => (m[1] ?? "").replace(/''/g, "'"));
}

/** Columns whose type is this enum (or an array of it), with their definitions. */
function columnsOfType(
  catalog: Catalog,
  type: string,
): [table: string, column: string, def: ColumnDef][] {
  const names = new Set([type, ident(type)]);
  const found: [string, string, ColumnDef][] = [];
  for (const [key, def] of catalog) {
    if (!key.startsWith("column ")) continue;
    const parsed = parseColumn(def);
    if (!parsed || !names.has(parsed.type.replace(/\[\]$/, ""))) continue;
    const { table, name } = splitKey(key);
    found.push([table, name, parsed]);
  }
  return found;
}

function enumFix(type: string, want: string[], have: string[], catalog: Catalog): Fix | undefined {
  // Only values added, the old ones in their order: ALTER TYPE … ADD VALUE keeps every row.
  let i = 0;
  for (const label of want) if (label === have[i]) i++;
  if (i !== have.length) return undefined;
  const up: string[] = [];
  const present = [...have];
  want.forEach((label, index) => {
    if (present.includes(label)) return;
    const before = want.slice(index + 1).find((l) => present.includes(l));
    const after = want.slice(0, index).findLast((l) => present.includes(l));
    const where =
      before !== undefined
        ? ` BEFORE ${literal(before)}`
        : after !== undefined
          ? ` AFTER ${literal(after)}`
          : "";
    up.push(`ALTER TYPE ${ident(type)} ADD VALUE ${literal(label)}${where}`);
    present.push(label);
  });
  // PostgreSQL cannot remove an enum value: down() recreates the type with the old values.
  const old = ident(`${type}_old`);
  const down = [
    `ALTER TYPE ${ident(type)} RENAME TO ${old}`,
    `CREATE TYPE ${ident(type)} AS ENUM (${have.map(literal).join(", ")})`,
  ];
  for (const [table, column, def] of columnsOfType(catalog, type)) {
    const alter = `ALTER TABLE ${ident(table)} ALTER COLUMN ${ident(column)}`;
    const array = def.type.endsWith("[]") ? "[]" : "";
    if (def.default !== undefined) down.push(`${alter} DROP DEFAULT`);
    down.push(
      `${alter} TYPE ${ident(type)}${array} USING ${ident(column)}::text${array}::${ident(type)}${array}`,
    );
    if (def.default !== undefined) down.push(`${alter} SET DEFAULT ${def.default}`);
  }
  down.push(`DROP TYPE ${old}`);
  return { up, down };
}

/** The definition with the object's own name taken out, to recognise a rename. */
function withoutName(key: string, def: string): string {
  const { name } = splitKey(key);
  return def.split(ident(name)).join("\u0000").split(` ${name} `).join(" \u0000 ");
}

/**
 * Fixes for the changes it knows (left: the record, right: the schema so far). `have` is the
 * schema so far, for the columns an enum change touches. Unknown changes are returned as is.
 */
export function fixesFor(
  changes: readonly CatalogChange[],
  have: Catalog,
): { fixes: Fix[]; unknown: CatalogChange[] } {
  const fixes: Fix[] = [];
  const unknown: CatalogChange[] = [];
  const handled = new Set<string>();
  // Renames first: an object only in the record and one only in the schema, same table, same
  // definition but for the name.
  for (const gone of changes.filter((c) => c.left === undefined && c.right !== undefined)) {
    const { kind, table, name } = splitKey(gone.key);
    if (kind !== "constraint" && kind !== "index") continue;
    if (kind === "index" && have.has(`constraint ${table}.${name}`)) continue;
    const twin = changes.find(
      (c) =>
        c.right === undefined &&
        c.left !== undefined &&
        !handled.has(c.key) &&
        splitKey(c.key).kind === kind &&
        splitKey(c.key).table === table &&
        withoutName(c.key, c.left) === withoutName(gone.key, gone.right ?? ""),
    );
    if (!twin) continue;
    const wanted = splitKey(twin.key).name;
    const rename = (from: string, to: string) =>
      kind === "constraint"
        ? `ALTER TABLE ${ident(table)} RENAME CONSTRAINT ${ident(from)} TO ${ident(to)}`
        : `ALTER INDEX ${ident(from)} RENAME TO ${ident(to)}`;
    fixes.push({ up: [rename(name, wanted)], down: [rename(wanted, name)] });
    handled.add(gone.key).add(twin.key);
  }
  // An index that backs a changed constraint (UNIQUE, PRIMARY KEY) follows its constraint.
  const constraints = new Set(
    changes
      .filter((c) => c.key.startsWith("constraint "))
      .map((c) => c.key.slice("constraint ".length)),
  );
  for (const change of changes) {
    if (handled.has(change.key)) continue;
    if (change.key.startsWith("index ") && constraints.has(change.key.slice("index ".length)))
      continue;
    const fix = fixFor(change, have);
    if (fix) fixes.push(fix);
    else unknown.push(change);
  }
  return { fixes, unknown };
}

function fixFor(
  { key, left: want, right: have }: CatalogChange,
  catalog: Catalog,
): Fix | undefined {
  const { kind, table, name } = splitKey(key);
  if (kind === "comment") {
    const target = commentTarget(key.slice("comment on ".length));
    if (!target) return undefined;
    const set = (text: string | undefined) =>
      `COMMENT ON ${target} IS ${text === undefined ? "NULL" : literal(text)}`;
    return { up: [set(want)], down: [set(have)] };
  }
  if (kind === "extension" && want !== undefined && have === undefined) {
    return {
      up: [`CREATE EXTENSION IF NOT EXISTS ${ident(name)}`],
      down: [`DROP EXTENSION IF EXISTS ${ident(name)}`],
    };
  }
  if (kind === "column" && want !== undefined && have !== undefined) {
    const [w, h] = [parseColumn(want), parseColumn(have)];
    return w && h ? columnFix(table, name, w, h) : undefined;
  }
  if (kind === "constraint") {
    const t = ident(table);
    const add = (def: string) => `ALTER TABLE ${t} ADD CONSTRAINT ${ident(name)} ${def}`;
    const drop = `ALTER TABLE ${t} DROP CONSTRAINT ${ident(name)}`;
    // Primary and foreign keys are TypeORM's to write (other objects depend on them).
    if ([want, have].some((d) => d && /^(PRIMARY KEY|FOREIGN KEY|EXCLUDE)/.test(d)))
      return undefined;
    if (want !== undefined && have !== undefined)
      return { up: [drop, add(want)], down: [drop, add(have)] };
    if (want !== undefined) return { up: [add(want)], down: [drop] };
    if (have !== undefined) return { up: [drop], down: [add(have)] };
  }
  if (kind === "index") {
    const drop = `DROP INDEX ${ident(name)}`;
    if (want !== undefined && have !== undefined) return { up: [drop, want], down: [drop, have] };
    if (want !== undefined) return { up: [want], down: [drop] };
    if (have !== undefined) return { up: [drop], down: [have] };
  }
  if (kind === "enum" && want !== undefined && have !== undefined) {
    return enumFix(name, labels(want), labels(have), catalog);
  }
  return undefined;
}
