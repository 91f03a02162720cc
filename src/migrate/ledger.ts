import { hostname } from "node:os";
/**
 * The ledger: what TypeORM's `migrations` table does not keep. One row per applied migration,
 * written in the migration's own transaction: the checksum of the source that ran, when, how
 * long it took, and who applied it. TypeORM's table is left exactly as TypeORM shapes it.
 */
export const LEDGER_TABLE = "migrations_ledger";

export interface Applier {
  host: string;
  tool: string;
  version: string;
}

export interface LedgerEntry {
  name: string;
  /** Null for migrations adopted without a known source (applied before the ledger, source since gone). */
  checksum: string | null;
  appliedAt: Date | null;
  durationMs: number | null;
  appliedBy: string | null;
  tool: string | null;
  toolVersion: string | null;
  /** Applied before the ledger existed; its checksum was taken when it was adopted. */
  adopted: boolean;
  /**
   * A `transaction = false` migration that started and did not finish (failed, interrupted or
   * killed): what it did is kept, so it is neither applied nor safe to run again.
   */
  unfinished: boolean;
}

// A QueryRunner or a DataSource: both answer query(sql, params).
/** Anything that answers SQL with rows: a DataSource, a QueryRunner, a plain pg client. */
export type Queryable = { query(sql: string, parameters?: unknown[]): Promise<unknown> };

export async function ensureLedger(runner: Queryable): Promise<void> {
  await runner.query(`CREATE TABLE IF NOT EXISTS "${LEDGER_TABLE}" (
    "name" varchar PRIMARY KEY,
    "checksum" char(64),
    "applied_at" timestamptz,
    "duration_ms" integer,
    "applied_by" varchar,
    "tool" varchar,
    "tool_version" varchar,
    "adopted" boolean NOT NULL DEFAULT false,
    "unfinished" boolean NOT NULL DEFAULT false
  );
  -- Ledgers made before "unfinished" existed get it; only then is the table locked to alter it.
  DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '"${LEDGER_TABLE}"'::regclass
                   AND attname = 'unfinished' AND NOT attisdropped) THEN
      ALTER TABLE "${LEDGER_TABLE}" ADD COLUMN "unfinished" boolean NOT NULL DEFAULT false;
    END IF;
  END $$`);
}

export async function readLedger(runner: Queryable): Promise<Map<string, LedgerEntry>> {
  const [found] = (await runner.query("SELECT to_regclass($1) IS NOT NULL AS exists", [
    `"${LEDGER_TABLE}"`,
  ])) as { exists: boolean }[];
  if (!found?.exists) return new Map();
  const rows = (await runner.query(`SELECT * FROM "${LEDGER_TABLE}"`)) as Record<string, unknown>[];
  return new Map(
    rows.map((row) => [
      String(row.name),
      {
        name: String(row.name),
        checksum: (row.checksum as string | null) ?? null,
        appliedAt: (row.applied_at as Date | null) ?? null,
        durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
        appliedBy: (row.applied_by as string | null) ?? null,
        tool: (row.tool as string | null) ?? null,
        toolVersion: (row.tool_version as string | null) ?? null,
        adopted: Boolean(row.adopted),
        unfinished: Boolean(row.unfinished),
      },
    ]),
  );
}

export async function recordApplied(
  runner: Queryable,
  entry: {
    name: string;
    checksum: string | null;
    durationMs: number | null;
    applier: Applier;
    adopted?: boolean;
  },
  /** Also insert TypeORM's row, in the same statement: one round trip per migration, not two. */
  typeormRow?: { table: string; timestamp: number },
): Promise<void> {
  const alsoTypeorm = typeormRow
    ? `WITH "typeorm_row" AS (INSERT INTO ${typeormRow.table} ("timestamp", "name") VALUES ($8, $1)) `
    : "";
  await runner.query(
    `${alsoTypeorm}INSERT INTO "${LEDGER_TABLE}" ("name", "checksum", "applied_at", "duration_ms", "applied_by", "tool", "tool_version", "adopted")
     VALUES ($1, $2, ${entry.adopted ? "NULL" : "now()"}, $3, $4, $5, $6, $7)
     ON CONFLICT ("name") DO UPDATE SET "checksum" = EXCLUDED."checksum", "applied_at" = EXCLUDED."applied_at",
       "duration_ms" = EXCLUDED."duration_ms", "applied_by" = EXCLUDED."applied_by", "tool" = EXCLUDED."tool",
       "tool_version" = EXCLUDED."tool_version", "adopted" = EXCLUDED."adopted", "unfinished" = false`,
    [
      entry.name,
      entry.checksum,
      entry.durationMs,
      entry.applier.host,
      entry.applier.tool,
      entry.applier.version,
      entry.adopted ?? false,
      ...(typeormRow ? [typeormRow.timestamp] : []),
    ],
  );
}

/** An operator accepted an edited applied migration: the ledger now vouches for the new source. */
export async function acceptChecksum(
  runner: Queryable,
  name: string,
  checksum: string,
): Promise<void> {
  await runner.query(`UPDATE "${LEDGER_TABLE}" SET "checksum" = $2 WHERE "name" = $1`, [
    name,
    checksum,
  ]);
}

export async function forget(runner: Queryable, name: string): Promise<void> {
  await runner.query(`DELETE FROM "${LEDGER_TABLE}" WHERE "name" = $1`, [name]);
}

/** forget() as a literal statement, to share COMMIT's round trip when a revert completes. */
export function forgetSql(name: string, literal: (value: string) => string): string {
  return `DELETE FROM "${LEDGER_TABLE}" WHERE "name" = ${literal(name)}`;
}

/**
 * The statement that claims a migration for applying, first thing in its transaction: the ledger
 * row's primary key makes a second claimer wait for the first to commit and then insert nothing
 * (ON CONFLICT waits for the other transaction, then does nothing), and a name already in
 * TypeORM's table inserts nothing. It returns one row only when the caller may run up().
 * Values are inlined as literals (escaped by pg) so the claim can share the round trip of the
 * transaction's START; completeApplied fills in the rest when up() is done.
 */
export function claimForApplySql(
  entry: { name: string; checksum: string | null; applier: Applier },
  migrationsTable: string,
  literal: (value: string) => string,
  /** Committed before up() runs, outside a transaction: it stays if up() never finishes. */
  unfinished = false,
): string {
  const name = literal(entry.name);
  return `INSERT INTO "${LEDGER_TABLE}" ("name", "checksum", "applied_at", "applied_by", "tool", "tool_version", "adopted", "unfinished")
       SELECT ${name}, ${entry.checksum === null ? "NULL" : literal(entry.checksum)}, now(), ${literal(entry.applier.host)}, ${literal(entry.applier.tool)}, ${literal(entry.applier.version)}, false, ${unfinished}
        WHERE NOT EXISTS (SELECT 1 FROM ${migrationsTable} WHERE "name" = ${name})
       ON CONFLICT ("name") DO NOTHING
       RETURNING "name"`;
}

/**
 * The claimed migration ran: its duration in the ledger, its row in TypeORM's table. Literals,
 * like the claim, so the statement can share COMMIT's round trip.
 */
export function completeAppliedSql(
  entry: { name: string; durationMs: number; timestamp: number },
  migrationsTable: string,
  literal: (value: string) => string,
  /** The transaction the claim started in: nothing is recorded from any other. */
  xid?: string,
): string {
  const name = literal(entry.name);
  const same = xid ? ` AND pg_current_xact_id_if_assigned() = ${literal(xid)}::xid8` : "";
  return `WITH "ledger_row" AS (UPDATE "${LEDGER_TABLE}" SET "duration_ms" = ${Math.round(entry.durationMs)}, "unfinished" = false WHERE "name" = ${name}${same} RETURNING 1)
     INSERT INTO ${migrationsTable} ("timestamp", "name") SELECT ${Math.trunc(entry.timestamp)}, ${name} FROM "ledger_row"`;
}

/**
 * Removes a migration's rows, first thing in the transaction that reverts it: the row locks make
 * a second reverter wait, then find nothing. False when it is not (or no longer) recorded.
 */
export async function claimForRevert(
  runner: Queryable,
  name: string,
  migrationsTable: string,
  /** Outside a transaction: the ledger row stays, unfinished, until down() completes. */
  unfinished = false,
): Promise<boolean> {
  const ledger = unfinished
    ? `UPDATE "${LEDGER_TABLE}" SET "unfinished" = true WHERE "name" = $1`
    : `DELETE FROM "${LEDGER_TABLE}" WHERE "name" = $1`;
  const [row] = (await runner.query(
    `WITH "typeorm_row" AS (DELETE FROM ${migrationsTable} WHERE "name" = $1 RETURNING 1),
          "ledger_row" AS (${ledger})
     SELECT count(*)::int AS "n" FROM "typeorm_row"`,
    [name],
  )) as { n: number }[];
  return (row?.n ?? 0) > 0;
}

/**
 * Ledger rows of migrations TypeORM's table does not list (reverted by TypeORM's own CLI, or a
 * non-transactional migration interrupted before it was recorded): forgotten, so they run again.
 */
export async function forgetUnrecorded(runner: Queryable, migrationsTable: string): Promise<void> {
  await runner.query(
    `DELETE FROM "${LEDGER_TABLE}" l WHERE NOT l."unfinished" AND NOT EXISTS (SELECT 1 FROM ${migrationsTable} m WHERE m."name" = l."name")`,
  );
}

/** Who applies: this host, and the tool and version doing it (shown by migrate:show). */
export function defaultApplier(tool = "backupctl-toolkit", version = "unknown"): Applier {
  return { host: hostname(), tool, version };
}
