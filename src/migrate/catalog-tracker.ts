import type { QueryRunner } from "typeorm";
import { BOOKKEEPING, type Catalog, preparedOn, readCatalogRows } from "./catalog.ts";

/**
 * Which catalog rows each relation of `public` has, summed up cheaply: for every relation, the
 * count, sum and maximum of the transaction ids (xmin) of its rows in pg_class, pg_attribute,
 * pg_attrdef, pg_constraint, pg_index, pg_rewrite, pg_sequence and pg_description. Any DDL inserts,
 * updates (a new row version, a new xmin) or deletes one of those rows, so a relation whose
 * signature is unchanged has an unchanged catalog. Owner 0 sums up what belongs to no relation:
 * types (not the row types of tables), enum labels, extensions and functions. Reading this costs
 * a fraction of printing the catalog, which is what grows with the schema.
 */
const SIGNATURE_SQL = `
WITH rel AS (
  SELECT c.oid, c.relkind, c.xmin FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relname <> ALL($1)
     AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
), owned_type AS (
  SELECT t.oid, t.xmin FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
   WHERE t.typnamespace = 'public'::regnamespace AND t.typcategory <> 'A'
     AND (t.typrelid = 0 OR c.relkind = 'c')
), part AS (
  SELECT r.oid AS owner, r.xmin FROM rel r
  UNION ALL SELECT a.attrelid, a.xmin FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
  UNION ALL SELECT d.adrelid, d.xmin FROM rel r JOIN pg_attrdef d ON d.adrelid = r.oid
  UNION ALL SELECT c.conrelid, c.xmin FROM rel r JOIN pg_constraint c ON c.conrelid = r.oid
  UNION ALL SELECT i.indrelid, i.xmin FROM rel r JOIN pg_index i ON i.indrelid = r.oid
  UNION ALL SELECT i.indrelid, ic.xmin FROM rel r JOIN pg_index i ON i.indrelid = r.oid
                                       JOIN pg_class ic ON ic.oid = i.indexrelid
  UNION ALL SELECT w.ev_class, w.xmin FROM rel r JOIN pg_rewrite w ON w.ev_class = r.oid
  UNION ALL SELECT s.seqrelid, s.xmin FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
  UNION ALL SELECT r.oid, ds.xmin FROM rel r JOIN pg_description ds
                                    ON ds.objoid = r.oid AND ds.classoid = 'pg_class'::regclass
  UNION ALL SELECT c.conrelid, ds.xmin FROM rel r JOIN pg_constraint c ON c.conrelid = r.oid
              JOIN pg_description ds ON ds.objoid = c.oid AND ds.classoid = 'pg_constraint'::regclass
  UNION ALL SELECT i.indrelid, ds.xmin FROM rel r JOIN pg_index i ON i.indrelid = r.oid
              JOIN pg_description ds ON ds.objoid = i.indexrelid AND ds.classoid = 'pg_class'::regclass
  UNION ALL SELECT 0, t.xmin FROM owned_type t
  UNION ALL SELECT 0, e.xmin FROM owned_type t JOIN pg_enum e ON e.enumtypid = t.oid
  UNION ALL SELECT 0, ds.xmin FROM owned_type t
              JOIN pg_description ds ON ds.objoid = t.oid AND ds.classoid = 'pg_type'::regclass
  UNION ALL SELECT 0, x.xmin FROM pg_extension x
  UNION ALL SELECT 0, p.xmin FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
)
SELECT p.owner, coalesce(r.relkind, '') AS kind,
       count(*) || '/' || sum(p.xmin::text::int8) || '/' || max(p.xmin::text::int8) AS signature,
       (SELECT coalesce(array_agg(DISTINCT f.confrelid), '{}') FROM pg_constraint f
         WHERE f.conrelid = p.owner AND f.contype = 'f') AS refs
  FROM part p LEFT JOIN rel r ON r.oid = p.owner
 GROUP BY p.owner, r.relkind`;

interface Signature {
  kind: string;
  signature: string;
  /** The relations its foreign keys reference: their names and columns are printed in its keys. */
  refs: number[];
}

/** What the tracker knows at one moment; restored after a rollback. */
export interface TrackedState {
  signatures: ReadonlyMap<number, Signature>;
  /** Each owner's catalog entries. */
  sections: ReadonlyMap<number, ReadonlyMap<string, string>>;
}

/**
 * The catalog of `public` on one connection, kept current by re-reading only the relations whose
 * catalog rows changed since the last read, so that reading it after each of N migrations costs
 * what the migrations changed, not N times the whole schema.
 *
 * A relation's printed entries can change without its own rows changing; those are re-read too:
 * the relations whose foreign keys reference a changed one (its name and columns are printed in
 * theirs), every view (a view prints what it reads), and everything when a type, function,
 * extension or sequence changed (column types and defaults print their names).
 */
export class CatalogTracker {
  /** What the last refresh re-read: every relation, or these (empty: nothing changed). */
  lastRead: "all" | number[] = "all";

  private constructor(
    private readonly runner: QueryRunner,
    private current: TrackedState,
  ) {}

  /** Reads the whole catalog once. */
  static async open(runner: QueryRunner): Promise<CatalogTracker> {
    const tracker = new CatalogTracker(runner, { signatures: new Map(), sections: new Map() });
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
    const entries = new Map<string, string>();
    for (const section of this.current.sections.values())
      for (const [key, def] of section) entries.set(key, def);
    return entries;
  }

  /** Re-reads what changed since the last read and answers with the catalog now. */
  async refresh(): Promise<Catalog> {
    const signatures = await this.readSignatures();
    const stale = this.staleOwners(signatures);
    const all = stale === "all";
    this.lastRead = all ? "all" : [...stale];
    const sections = new Map<number, ReadonlyMap<string, string>>(all ? [] : this.current.sections);
    for (const owner of sections.keys())
      if (!signatures.has(owner) || (!all && stale.has(owner))) sections.delete(owner);
    if (all || stale.size > 0) {
      sections.delete(0); // what belongs to no relation comes back with every read
      const fresh = new Map<number, Map<string, string>>();
      for (const row of await readCatalogRows(this.runner, all ? undefined : [...stale])) {
        const section = fresh.get(row.owner) ?? new Map<string, string>();
        fresh.set(row.owner, section.set(row.key, row.def));
      }
      // New maps, never changed afterwards: a saved state shares the sections it did not re-read.
      for (const [owner, section] of fresh) sections.set(owner, section);
    }
    this.current = { signatures, sections };
    return this.catalog;
  }

  /** The owners to re-read, or "all". */
  private staleOwners(now: ReadonlyMap<number, Signature>): Set<number> | "all" {
    const before = this.current.signatures;
    const changed = new Set<number>();
    for (const owner of new Set([...before.keys(), ...now.keys()])) {
      if (before.get(owner)?.signature !== now.get(owner)?.signature) changed.add(owner);
    }
    if (changed.size === 0) return changed;
    const kindOf = (owner: number) => now.get(owner)?.kind ?? before.get(owner)?.kind;
    if (changed.has(0) || [...changed].some((owner) => kindOf(owner) === "S")) return "all";
    const stale = new Set([...changed].filter((owner) => now.has(owner)));
    for (const [owner, signature] of now) {
      if (signature.kind === "v" || signature.kind === "m") stale.add(owner);
      if (signature.refs.some((ref) => changed.has(ref))) stale.add(owner);
    }
    return stale;
  }

  private async readSignatures(): Promise<Map<number, Signature>> {
    const rows = (await preparedOn(
      this.runner,
      [BOOKKEEPING],
      "backupctl_catalog_signature",
      SIGNATURE_SQL,
    )) as { owner: number | string; kind: string; signature: string; refs: (number | string)[] }[];
    return new Map(
      rows.map((row) => [
        Number(row.owner),
        { kind: row.kind, signature: row.signature, refs: row.refs.map(Number) },
      ]),
    );
  }
}
