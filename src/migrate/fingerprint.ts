import type { DataSource, QueryRunner } from "typeorm";

/** Tables the tooling owns, left out of a schema fingerprint. */
const BOOKKEEPING = ["migrations", "migrations_ledger", "typeorm_metadata"];

/**
 * The schema as a sorted list of lines: tables, columns (type, nullability, default), indexes,
 * constraints and enum types in `public`. Two equal fingerprints mean the same schema.
 */
export async function schemaFingerprint(db: DataSource | QueryRunner): Promise<string[]> {
  const rows: { line: string }[] = await db.query(
    `SELECT 'table ' || tablename AS line FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL($1)
     UNION ALL
     SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
            || coalesce('(' || character_maximum_length || ')', '')
            || coalesce('(' || numeric_precision || ',' || numeric_scale || ')', '')
            || CASE WHEN is_nullable = 'YES' THEN ' null' ELSE ' not null' END
            || coalesce(' default ' || column_default, '')
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> ALL($1)
     UNION ALL
     SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> ALL($1)
     UNION ALL
     SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ' ' || pg_get_constraintdef(oid)
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> ALL($1)
     UNION ALL
     SELECT 'type ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname`,
    [BOOKKEEPING],
  );
  return rows.map((row) => row.line).sort();
}

/** Lines in one fingerprint and not the other, marked `-` (lost) and `+` (gained). */
export function fingerprintDiff(before: string[], after: string[]): string[] {
  const had = new Set(before);
  const has = new Set(after);
  return [
    ...before.filter((l) => !has.has(l)).map((l) => `- ${l}`),
    ...after.filter((l) => !had.has(l)).map((l) => `+ ${l}`),
  ];
}
