import type { QueryRunner } from "typeorm";
import {
  BOOKKEEPING,
  type Catalog,
  type CatalogPart,
  type CatalogRow,
  catalogSql,
  preparedOn,
  RELATIONS_CTE,
  readCatalogRows,
} from "./catalog.ts";

/**
 * One round trip per refresh: what changed since the last read, and the entries that likely
 * changed with it.
 *
 * The catalog rows' xmin (the transaction that wrote the row) tells what changed: DDL inserts a
 * row or writes a new version of it, so a row whose xmin is at or after the mark taken at the last
 * read is new since then; `age()` compares transaction ids the way PostgreSQL does, modulo
 * wraparound. Deleted rows leave no xmin: counts catch those.
 *
 * Rows: the catalog entries of `rest` and `wanted` (catalogSql), chosen here from what is new (a
 * relation with a new row: its own entries, its new columns, its generated columns; then every
 * view and every relation whose foreign keys reference it), then one row per relation (sub -1)
 * and one for the rest (sub -2) with JSON the tracker checks that choice against. Enums and
 * extensions, which belong to no relation, are few and always read.
 */
const REFRESH_SQL = `${catalogSql(`${RELATIONS_CTE}, mark AS (
  SELECT age(xid($2::text::xid8)) AS horizon
), delta AS (
  SELECT r.oid, r.relname AS name, r.relkind AS kind,
         concat_ws('/',
           (SELECT count(*) FROM pg_constraint c WHERE c.conrelid = r.oid),
           (SELECT count(*) FROM pg_index i WHERE i.indrelid = r.oid),
           (SELECT count(*) FROM pg_constraint c JOIN pg_description ds
               ON ds.objoid = c.oid AND ds.classoid = 'pg_constraint'::regclass WHERE c.conrelid = r.oid),
           (SELECT count(*) FROM pg_index i JOIN pg_description ds
               ON ds.objoid = i.indexrelid AND ds.classoid = 'pg_class'::regclass WHERE i.indrelid = r.oid),
           (SELECT count(*) FROM pg_description ds
             WHERE ds.objoid = r.oid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = 0)
         ) AS rest_counts,
         (SELECT coalesce(string_agg(ds.objsubid::text, ',' ORDER BY ds.objsubid), '')
            FROM pg_description ds
           WHERE ds.objoid = r.oid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid > 0
         ) AS column_comments,
         (age(r.rel_xmin) <= m.horizon
          OR EXISTS (SELECT FROM pg_constraint c WHERE c.conrelid = r.oid AND age(c.xmin) <= m.horizon)
          OR EXISTS (SELECT FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                      WHERE i.indrelid = r.oid AND (age(i.xmin) <= m.horizon OR age(ic.xmin) <= m.horizon))
          OR EXISTS (SELECT FROM pg_rewrite w WHERE w.ev_class = r.oid AND age(w.xmin) <= m.horizon)
          OR EXISTS (SELECT FROM pg_sequence s WHERE s.seqrelid = r.oid AND age(s.xmin) <= m.horizon)
          OR EXISTS (SELECT FROM pg_description ds
                      WHERE ds.objoid = r.oid AND ds.classoid = 'pg_class'::regclass
                        AND ds.objsubid = 0 AND age(ds.xmin) <= m.horizon)
          OR EXISTS (SELECT FROM pg_constraint c JOIN pg_description ds
                         ON ds.objoid = c.oid AND ds.classoid = 'pg_constraint'::regclass
                      WHERE c.conrelid = r.oid AND age(ds.xmin) <= m.horizon)
          OR EXISTS (SELECT FROM pg_index i JOIN pg_description ds
                         ON ds.objoid = i.indexrelid AND ds.classoid = 'pg_class'::regclass
                      WHERE i.indrelid = r.oid AND age(ds.xmin) <= m.horizon)
         ) IS TRUE AS rest_new,
         ARRAY(SELECT a.attnum::int FROM pg_attribute a
                WHERE a.attrelid = r.oid AND a.attnum > 0 AND age(a.xmin) <= m.horizon
               UNION
               SELECT d.adnum FROM pg_attrdef d WHERE d.adrelid = r.oid AND age(d.xmin) <= m.horizon
               UNION
               SELECT ds.objsubid FROM pg_description ds
                WHERE ds.objoid = r.oid AND ds.classoid = 'pg_class'::regclass
                  AND ds.objsubid > 0 AND age(ds.xmin) <= m.horizon) AS new_columns,
         ARRAY(SELECT a.attnum::int FROM pg_attribute a
                WHERE a.attrelid = r.oid AND a.attgenerated <> '' AND NOT a.attisdropped) AS generated,
         ARRAY(SELECT DISTINCT c.confrelid FROM pg_constraint c
                WHERE c.conrelid = r.oid AND c.contype = 'f') AS refs
    FROM rel r, mark m
), tracked AS (
  SELECT oid FROM rel
  UNION ALL SELECT i.indexrelid FROM pg_index i JOIN rel r ON r.oid = i.indrelid
), foreign_row AS (
  -- What entries may print without being tracked above: types, enum labels, functions,
  -- schemas, collations, extensions, operators, and relations outside \`rel\` (another schema's
  -- tables, toast tables), text search configurations: any of it changed or gone means a full
  -- read. Only objects created after initdb (oid 16384 and up): scanning the built-in ones on
  -- every read would cost more than the read; only a superuser can rename them.
  SELECT 'type' AS cat, t.xmin FROM pg_type t WHERE t.oid >= 16384
  UNION ALL SELECT 'enum', e.xmin FROM pg_enum e
  UNION ALL SELECT 'function', p.xmin FROM pg_proc p WHERE p.oid >= 16384
  UNION ALL SELECT 'schema', n.xmin FROM pg_namespace n WHERE n.oid >= 16384
  UNION ALL SELECT 'collation', c.xmin FROM pg_collation c WHERE c.oid >= 16384
  UNION ALL SELECT 'extension', x.xmin FROM pg_extension x
  UNION ALL SELECT 'operator', o.xmin FROM pg_operator o WHERE o.oid >= 16384
  UNION ALL SELECT 'opclass', o.xmin FROM pg_opclass o WHERE o.oid >= 16384
  UNION ALL SELECT 'opfamily', o.xmin FROM pg_opfamily o WHERE o.oid >= 16384
  UNION ALL SELECT 'access method', a.xmin FROM pg_am a WHERE a.oid >= 16384
  UNION ALL SELECT 'text search configuration', t.xmin FROM pg_ts_config t WHERE t.oid >= 16384
  UNION ALL SELECT 'text search dictionary', t.xmin FROM pg_ts_dict t WHERE t.oid >= 16384
  UNION ALL SELECT 'relation', c.xmin FROM pg_class c
             WHERE c.oid >= 16384 AND c.oid NOT IN (SELECT oid FROM tracked)
  UNION ALL SELECT 'column', a.xmin FROM pg_attribute a
             WHERE a.attrelid >= 16384 AND a.attrelid NOT IN (SELECT oid FROM tracked)
  UNION ALL SELECT 'default', d.xmin FROM pg_attrdef d
             WHERE d.oid >= 16384 AND d.adrelid NOT IN (SELECT oid FROM rel)
  UNION ALL SELECT 'constraint', c.xmin FROM pg_constraint c
             WHERE c.oid >= 16384 AND c.conrelid NOT IN (SELECT oid FROM rel)
  UNION ALL SELECT 'index', i.xmin FROM pg_index i
             WHERE i.indexrelid >= 16384 AND i.indrelid NOT IN (SELECT oid FROM rel)
  UNION ALL SELECT 'rule', w.xmin FROM pg_rewrite w
             WHERE w.oid >= 16384 AND w.ev_class NOT IN (SELECT oid FROM rel)
  UNION ALL SELECT 'sequence', q.xmin FROM pg_sequence q
             WHERE q.seqrelid >= 16384 AND q.seqrelid NOT IN (SELECT oid FROM rel)
), touched AS (
  SELECT oid FROM delta WHERE rest_new OR cardinality(new_columns) > 0
), rest AS (
  SELECT r.* FROM rel r JOIN delta d ON d.oid = r.oid
   WHERE r.oid IN (SELECT oid FROM touched)
      OR (EXISTS (SELECT FROM touched)
          AND (r.relkind IN ('v', 'm') OR d.refs && ARRAY(SELECT oid FROM touched)))
), wanted AS (
  SELECT d.oid AS rel, n.attnum::int2 AS attnum
    FROM delta d, unnest(d.new_columns
      || CASE WHEN cardinality(d.new_columns) > 0 THEN d.generated ELSE '{}' END) AS n(attnum)
)`)}
UNION ALL
SELECT d.oid, -1, NULL, row_to_json(d)::text FROM delta d
UNION ALL
SELECT 0, -2, NULL, json_build_object(
  'foreign', (SELECT string_agg(cat || ' ' || n, ', ' ORDER BY cat) FROM (
                SELECT cat, count(*) AS n FROM foreign_row GROUP BY cat) counted),
  'foreign_new', coalesce((SELECT bool_or(age(f.xmin) <= m.horizon) FROM foreign_row f), false),
  'mark', coalesce(pg_current_xact_id_if_assigned(), pg_snapshot_xmax(pg_current_snapshot()))::text,
  'rest', ARRAY(SELECT oid FROM rest),
  'columns', ARRAY(SELECT rel || '.' || attnum FROM wanted)
)::text FROM mark m`;

interface DeltaRow {
  oid: number;
  name: string;
  kind: string;
  /** Counts of its constraints, indexes and their comments: a delete shows only here. */
  restCounts: string;
  /** The columns that have a comment: a comment moved to another column keeps any count. */
  columnComments: string;
  /** A row of its own (not a column's) is new since the last read. */
  restNew: boolean;
  /** Columns whose row, default or comment is new since the last read. */
  newColumns: number[];
  /** Generated columns: their expression prints the names of other columns. */
  generated: number[];
  /** The relations its foreign keys reference: their names and columns are printed in its entries. */
  refs: number[];
}

interface Relation {
  name: string;
  kind: string;
  restCounts: string;
  columnComments: string;
  refs: number[];
  /** Its own entries (table, constraints, indexes, view, sequence, comments). */
  rest: ReadonlyMap<string, string>;
  /** Each column's entries (the column and its comment), by attnum. */
  columns: ReadonlyMap<number, ReadonlyMap<string, string>>;
}

/** What the tracker knows at one moment; restored after a rollback. Never changed in place. */
export interface TrackedState {
  /** Transactions from this id on wrote after the last read. */
  mark: string;
  /** How many untracked catalog rows there were, per catalog (foreign_row). */
  foreign: string;
  /** Enums and extensions, which belong to no relation. */
  unowned: ReadonlyMap<string, string>;
  relations: ReadonlyMap<number, Relation>;
}

/** What to re-read of one relation. */
interface Plan {
  rest: boolean;
  columns: "all" | Set<number>;
}

type Plans = Map<number, Plan> | "all";

/**
 * The catalog of `public` on one connection that only this tracker's owner changes (a scratch
 * database), kept current by re-reading only what changed since the last read: after an
 * add-column migration that is one column and the table's constraints and indexes, not every
 * column of the table, so reading it after each of N migrations grows with N, not N².
 *
 * An entry can change without its own rows changing; those are re-read too: a table's
 * constraints and indexes and its generated columns when a column changed (they print column
 * names), the relations whose foreign keys reference a changed one, every view (a view prints
 * what it reads), and everything when anything else a definition may print changed: a type, enum
 * label, function, schema, collation, operator, a relation of another schema, or a renamed
 * sequence. One query usually does it all (the
 * server picks what to re-read from what is new); when the tracker's own rules ask for more, a
 * second query reads exactly that.
 */
export class CatalogTracker {
  /** What the last refresh re-read: everything, or this part (empty: nothing changed). */
  lastRead: "all" | CatalogPart = "all";
  /** Queries the last refresh sent: 1 when the server's choice covered what the rules ask for. */
  lastQueries = 0;

  /** Each state's catalog, built once: verify asks again for the state it restored. */
  private readonly built = new WeakMap<TrackedState, Catalog>();

  private constructor(
    private readonly runner: QueryRunner,
    private current: TrackedState,
  ) {}

  /** Reads the whole catalog once. */
  static async open(runner: QueryRunner): Promise<CatalogTracker> {
    const tracker = new CatalogTracker(runner, {
      mark: "",
      foreign: "",
      unowned: new Map(),
      relations: new Map(),
    });
    await tracker.refresh();
    return tracker;
  }

  get state(): TrackedState {
    return this.current;
  }

  /** Goes back to a state read earlier: after a rollback, the catalog is what it was then. */
  restore(state: TrackedState): void {
    this.current = state;
  }

  /** The catalog as last read (entries in no particular order: compare it, don't print it). */
  get catalog(): Catalog {
    const done = this.built.get(this.current);
    if (done) return done;
    const entries = new Map(this.current.unowned);
    for (const relation of this.current.relations.values()) {
      for (const [key, def] of relation.rest) entries.set(key, def);
      for (const column of relation.columns.values())
        for (const [key, def] of column) entries.set(key, def);
    }
    this.built.set(this.current, entries);
    return entries;
  }

  /** Re-reads what changed since the last read and answers with the catalog now. */
  async refresh(): Promise<Catalog> {
    const { rows, foreign, mark, entries, provided } = await this.readChanges();
    const needed = this.plan(rows, foreign);
    let plans: Plans = provided;
    let read = entries;
    this.lastQueries = 1;
    if (needed === "all" || !this.covers(provided, needed)) {
      this.lastQueries = 2;
      plans = needed;
      read = await readCatalogRows(this.runner, needed === "all" ? undefined : partOf(needed));
    }
    this.lastRead = plans === "all" ? "all" : partOf(plans);
    this.current = {
      mark,
      foreign: foreign.counts,
      unowned: entriesOf(read.filter((row) => row.owner === 0)),
      relations: this.merge(rows, plans, read),
    };
    return this.catalog;
  }

  /** Whether what the server re-read includes everything the rules ask for. */
  private covers(provided: Map<number, Plan>, needed: Map<number, Plan>): boolean {
    for (const [oid, need] of needed) {
      const have = provided.get(oid);
      if (need.rest && !have?.rest) return false;
      if (need.columns === "all") {
        // A relation new since the last read: every column of it is new, so all were read.
        if (this.current.relations.has(oid) || !have?.rest) return false;
      } else {
        for (const n of need.columns)
          if (have?.columns === "all" || !have?.columns.has(n)) return false;
      }
    }
    return true;
  }

  /** What to re-read of each relation, or everything. */
  private plan(rows: DeltaRow[], foreign: { counts: string; changed: boolean }): Plans {
    const before = this.current.relations;
    if (!this.current.mark) return "all";
    // A type, function, schema… changed or gone: entries anywhere may print its old name.
    if (foreign.changed || foreign.counts !== this.current.foreign) return "all";
    const plans = new Map<number, Plan>();
    const present = new Set(rows.map((row) => row.oid));
    const changed = new Set([...before.keys()].filter((oid) => !present.has(oid)));
    for (const row of rows) {
      const old = before.get(row.oid);
      if (!old || old.name !== row.name || old.kind !== row.kind) {
        if (old?.kind === "S") return "all"; // a renamed sequence: defaults print its name
        plans.set(row.oid, { rest: true, columns: "all" });
        changed.add(row.oid);
        continue;
      }
      const columns: Plan["columns"] =
        old.columnComments !== row.columnComments ? "all" : new Set(row.newColumns);
      if (columns !== "all" && columns.size > 0) for (const n of row.generated) columns.add(n);
      const columnsChanged = columns === "all" || columns.size > 0;
      if (row.restNew || old.restCounts !== row.restCounts || columnsChanged) {
        plans.set(row.oid, { rest: true, columns });
        changed.add(row.oid);
      }
    }
    if (changed.size === 0) return plans;
    for (const row of rows) {
      const printsChanged = row.refs.some((ref) => changed.has(ref));
      if ((row.kind === "v" || row.kind === "m" || printsChanged) && !plans.has(row.oid))
        plans.set(row.oid, { rest: true, columns: new Set() });
    }
    return plans;
  }

  /** The relations after a read: re-read parts replaced, the rest shared with the old state. */
  private merge(rows: DeltaRow[], plans: Plans, read: CatalogRow[]): Map<number, Relation> {
    const byOwner = new Map<number, CatalogRow[]>();
    for (const r of read) {
      const list = byOwner.get(r.owner);
      if (list) list.push(r);
      else byOwner.set(r.owner, [r]);
    }
    const relations = new Map<number, Relation>();
    for (const row of rows) {
      const old = plans === "all" ? undefined : this.current.relations.get(row.oid);
      const plan = plans === "all" ? { rest: true, columns: "all" as const } : plans.get(row.oid);
      const own = byOwner.get(row.oid) ?? [];
      const columns = new Map(plan?.columns === "all" ? [] : old?.columns);
      if (plan && plan.columns !== "all") for (const n of plan.columns) columns.delete(n);
      // New maps only: a saved state shares the columns it did not re-read.
      const fresh = new Map<number, Map<string, string>>();
      for (const r of own)
        if (r.sub > 0) fresh.set(r.sub, (fresh.get(r.sub) ?? new Map()).set(r.key, r.def));
      for (const [n, column] of fresh) columns.set(n, column);
      relations.set(row.oid, {
        name: row.name,
        kind: row.kind,
        restCounts: row.restCounts,
        columnComments: row.columnComments,
        refs: row.refs,
        rest: plan?.rest ? entriesOf(own.filter((r) => r.sub === 0)) : (old?.rest ?? new Map()),
        columns,
      });
    }
    return relations;
  }

  private async readChanges(): Promise<{
    rows: DeltaRow[];
    foreign: { counts: string; changed: boolean };
    mark: string;
    entries: CatalogRow[];
    provided: Map<number, Plan>;
  }> {
    const raw = (await preparedOn(
      this.runner,
      [BOOKKEEPING, this.current.mark || null],
      "backupctl_catalog_refresh",
      REFRESH_SQL,
    )) as { owner: number | string; sub: number | string; key: string; def: string }[];
    const rows: DeltaRow[] = [];
    const entries: CatalogRow[] = [];
    let summary = {
      foreign: "",
      foreign_new: false,
      mark: "",
      rest: [] as number[],
      columns: [] as string[],
    };
    for (const r of raw) {
      const sub = Number(r.sub);
      if (sub === -2) summary = JSON.parse(r.def);
      else if (sub === -1) {
        const d = JSON.parse(r.def);
        rows.push({
          oid: Number(d.oid),
          name: d.name,
          kind: d.kind,
          restCounts: d.rest_counts,
          columnComments: String(d.column_comments),
          restNew: d.rest_new === true,
          newColumns: d.new_columns.map(Number),
          generated: d.generated.map(Number),
          refs: d.refs.map(Number),
        });
      } else entries.push({ owner: Number(r.owner), sub, key: r.key, def: r.def });
    }
    const provided = new Map<number, Plan>();
    for (const oid of summary.rest) provided.set(Number(oid), { rest: true, columns: new Set() });
    for (const pair of summary.columns) {
      const [oid, n] = pair.split(".").map(Number) as [number, number];
      const plan = provided.get(oid) ?? { rest: false, columns: new Set<number>() };
      (plan.columns as Set<number>).add(n);
      provided.set(oid, plan);
    }
    const foreign = { counts: summary.foreign, changed: summary.foreign_new };
    return { rows, foreign, mark: summary.mark, entries, provided };
  }
}

function partOf(plans: Map<number, Plan>): CatalogPart {
  return {
    rest: [...plans].filter(([, p]) => p.rest).map(([oid]) => oid),
    columns: [...plans].flatMap(([oid, p]) =>
      p.columns === "all"
        ? [[oid, 0] as [number, number]]
        : [...p.columns].map((n) => [oid, n] as [number, number]),
    ),
  };
}

function entriesOf(rows: CatalogRow[]): Map<string, string> {
  return new Map(rows.map((row) => [row.key, row.def]));
}
