import { describe, expect, test } from "bun:test";
import { type Catalog, catalogChanges } from "../../src/migrate/catalog.ts";
import { fixesFor, parseColumn } from "../../src/migrate/catalog-fixes.ts";

/** Fixes that turn `have` into `want`, as generate writes them when TypeORM's draft missed it. */
function fixes(want: Record<string, string>, have: Record<string, string>) {
  const w: Catalog = new Map(Object.entries(want));
  const h: Catalog = new Map(Object.entries(have));
  return fixesFor(catalogChanges(w, h), h);
}

describe("statements written from the catalog", () => {
  test("enum values added keep their place; down() recreates the type with the old values", () => {
    const {
      fixes: [fix],
      unknown,
    } = fixes(
      {
        "enum mood": "'sad', 'meh', 'ok', 'happy'",
        "column t.m": "mood not null default 'ok'::mood",
      },
      { "enum mood": "'sad', 'ok'", "column t.m": "mood not null default 'ok'::mood" },
    );
    expect(unknown).toEqual([]);
    expect(fix?.up).toEqual([
      `ALTER TYPE "mood" ADD VALUE 'meh' BEFORE 'ok'`,
      `ALTER TYPE "mood" ADD VALUE 'happy' AFTER 'ok'`,
    ]);
    expect(fix?.down).toEqual([
      'ALTER TYPE "mood" RENAME TO "mood_old"',
      `CREATE TYPE "mood" AS ENUM ('sad', 'ok')`,
      'ALTER TABLE "t" ALTER COLUMN "m" DROP DEFAULT',
      'ALTER TABLE "t" ALTER COLUMN "m" TYPE "mood" USING "m"::text::"mood"',
      `ALTER TABLE "t" ALTER COLUMN "m" SET DEFAULT 'ok'::mood`,
      'DROP TYPE "mood_old"',
    ]);
  });

  test("an enum value removed or reordered is not written", () => {
    expect(
      fixes({ "enum mood": "'ok', 'sad'" }, { "enum mood": "'sad', 'ok'" }).unknown,
    ).toHaveLength(1);
    expect(fixes({ "enum mood": "'ok'" }, { "enum mood": "'sad', 'ok'" }).unknown).toHaveLength(1);
  });

  test("a renamed constraint or index is renamed, not dropped and created", () => {
    const { fixes: found, unknown } = fixes(
      {
        "constraint t.UQ_new": "UNIQUE (a)",
        "index t.UQ_new": 'CREATE UNIQUE INDEX "UQ_new" ON public.t USING btree (a)',
        "index t.idx_b": "CREATE INDEX idx_b ON public.t USING btree (b)",
      },
      {
        "constraint t.UQ_old": "UNIQUE (a)",
        "index t.UQ_old": 'CREATE UNIQUE INDEX "UQ_old" ON public.t USING btree (a)',
        "index t.IDX_b": 'CREATE INDEX "IDX_b" ON public.t USING btree (b)',
      },
    );
    expect(unknown).toEqual([]);
    expect(found.map((f) => [f.up, f.down])).toEqual([
      [
        ['ALTER TABLE "t" RENAME CONSTRAINT "UQ_old" TO "UQ_new"'],
        ['ALTER TABLE "t" RENAME CONSTRAINT "UQ_new" TO "UQ_old"'],
      ],
      [['ALTER INDEX "IDX_b" RENAME TO "idx_b"'], ['ALTER INDEX "idx_b" RENAME TO "IDX_b"']],
    ]);
  });

  test("column: type through a cast (data kept), default and nullability; a lossy way back is named", () => {
    const {
      fixes: [fix],
    } = fixes(
      { "column t.n": "numeric(12,2) not null default 0" },
      { "column t.n": "bigint null default '0'::bigint" },
    );
    expect(fix?.up).toEqual([
      'ALTER TABLE "t" ALTER COLUMN "n" DROP DEFAULT',
      'ALTER TABLE "t" ALTER COLUMN "n" TYPE numeric(12,2) USING "n"::numeric(12,2)',
      'ALTER TABLE "t" ALTER COLUMN "n" SET DEFAULT 0',
      'ALTER TABLE "t" ALTER COLUMN "n" SET NOT NULL',
    ]);
    expect(fix?.down).toEqual([
      'ALTER TABLE "t" ALTER COLUMN "n" DROP DEFAULT',
      'ALTER TABLE "t" ALTER COLUMN "n" TYPE bigint USING "n"::bigint',
      'ALTER TABLE "t" ALTER COLUMN "n" SET DEFAULT \'0\'::bigint',
      'ALTER TABLE "t" ALTER COLUMN "n" DROP NOT NULL',
    ]);
    expect(fix?.warning).toContain("t.n changes type bigint → numeric(12,2)");
    const widening = fixes({ "column t.n": "bigint null" }, { "column t.n": "integer null" });
    expect(widening.fixes[0]?.warning).toBeDefined(); // bigint back to integer can overflow
    const narrowing = fixes({ "column t.n": "integer null" }, { "column t.n": "bigint null" });
    // bigint → integer may not fit; integer back to bigint loses nothing
    expect(narrowing.fixes[0]?.warning).toContain("up() casts it,");
    expect(narrowing.fixes[0]?.warning).not.toContain("down()");
  });

  test("CHECK definition, comments (quotes kept) and extensions", () => {
    const { fixes: found } = fixes(
      {
        "constraint t.CHK": "CHECK ((v >= 0))",
        "comment on column t.v": `it's "v"`,
        "extension pgcrypto": "",
      },
      { "constraint t.CHK": "CHECK ((v > 0))", "comment on table t": "old" },
    );
    expect(found.flatMap((f) => f.up)).toEqual([
      'COMMENT ON COLUMN "t"."v" IS \'it\'\'s "v"\'',
      'COMMENT ON TABLE "t" IS NULL',
      'ALTER TABLE "t" DROP CONSTRAINT "CHK"',
      'ALTER TABLE "t" ADD CONSTRAINT "CHK" CHECK ((v >= 0))',
      'CREATE EXTENSION IF NOT EXISTS "pgcrypto"',
    ]);
  });

  test("what it does not know is left to refuse: views, sequences, identity, generated expressions", () => {
    const { fixes: found, unknown } = fixes(
      {
        "view v": "SELECT 1",
        "sequence s": "bigint start 1 increment 1 min 1 max 9",
        "column t.g": "integer null generated always as ((a * 3)) stored",
      },
      { "column t.g": "integer null generated always as ((a * 2)) stored" },
    );
    expect(found).toEqual([]);
    expect(unknown.map((c) => c.key)).toEqual(["column t.g", "sequence s", "view v"]);
  });

  test("parses every column definition the catalog prints", () => {
    expect(
      parseColumn("character varying(20) collate \"C\" not null default 'x'::character varying"),
    ).toEqual({
      type: "character varying(20)",
      collation: '"C"',
      notNull: true,
      default: "'x'::character varying",
    });
    expect(parseColumn("integer not null generated by default as identity")).toEqual({
      type: "integer",
      notNull: true,
      identity: "by default",
    });
    expect(parseColumn("integer null generated always as ((a * 2)) stored")).toEqual({
      type: "integer",
      notNull: false,
      generated: "(a * 2)",
    });
  });
});
