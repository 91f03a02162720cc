import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Check,
  Column,
  DataSource,
  Entity,
  Generated,
  getMetadataArgsStorage,
  Index,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
  VersionColumn,
} from "typeorm";
import type { PostgresDataSourceOptions } from "typeorm/driver/postgres/PostgresDataSourceOptions.js";
import { runSquawk } from "../../scripts/lib/squawk.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { type CatalogChange, describeChanges, readCatalog } from "../../src/migrate/catalog.ts";
import {
  diffSchema,
  type GeneratedMigration,
  generateMigration,
} from "../../src/migrate/generate.ts";
import { type Inspection, inspectMigrations } from "../../src/migrate/inspect.ts";
import { judgeSchema } from "../../src/migrate/judge.ts";
import { lintFindings } from "../../src/migrate/lint.ts";
import { revertLast } from "../../src/migrate/revert.ts";
import { runMigrations } from "../../src/migrate/run.ts";
import { freshDatabase, query } from "../support/database.ts";

/**
 * The column kinds users write, each a table of its own: `before` is what the migrations already
 * have (generated first), `after` the record. Every kind goes through generate → run → check →
 * verify → generate again, judged by the catalog. They run as one batch (one record database and
 * one migration for all) to keep this file to seconds; each kind then asserts on its own table.
 */

// ── before: what the applied migrations built ──────────────────────────────────────────────────
const ENUM_AB = ["a", "b"];

@Entity("k_enum_added")
class EnumAddedBefore {
  @PrimaryColumn("int") id: number;
  @Column({ type: "enum", enum: ENUM_AB, enumName: "k_enum_added_v_enum" }) v: string;
}
@Entity("k_enum_renamed")
class EnumRenamedBefore {
  @PrimaryColumn("int") id: number;
  @Column({ type: "enum", enum: ENUM_AB, enumName: "old_state" }) v: string;
}
@Entity("k_check_edited")
@Check("CHK_k_check_edited_v", '"v" > 0')
class CheckEditedBefore {
  @PrimaryColumn("int") id: number;
  @Column("int") v: number;
}
@Entity("k_unique_renamed")
@Unique("UQ_k_unique_old", ["v"])
class UniqueRenamedBefore {
  @PrimaryColumn("int") id: number;
  @Column("int") v: number;
}
@Entity("k_type_change")
class TypeChangeBefore {
  @PrimaryColumn("int") id: number;
  @Column({ type: "bigint", nullable: true }) v: string | null;
}
@Entity("k_rename")
class RenameBefore {
  @PrimaryColumn("int") id: number;
  @Column({ name: "old_name", type: "varchar", nullable: true }) v: string | null;
}
@Entity("k_not_null")
class NotNullBefore {
  @PrimaryColumn("int") id: number;
}
@Entity("k_version")
class VersionBefore {
  @PrimaryColumn("int") id: number;
}
@Entity("k_comment")
class CommentBefore {
  @PrimaryColumn("int") id: number;
  @Column({ type: "text", nullable: true }) v: string | null;
}
@Entity("k_varchar_length")
class VarcharLengthBefore {
  @PrimaryColumn("int") id: number;
  @Column({ type: "varchar", length: 20, nullable: true }) v: string | null;
}

const BEFORE = [
  EnumAddedBefore,
  EnumRenamedBefore,
  CheckEditedBefore,
  UniqueRenamedBefore,
  TypeChangeBefore,
  RenameBefore,
  NotNullBefore,
  VersionBefore,
  CommentBefore,
  VarcharLengthBefore,
];

// ── after: the record ──────────────────────────────────────────────────────────────────────────
@Entity("k_enum_default_name")
class EnumDefaultName {
  @PrimaryColumn("int") id: number;
  // enumName equal to TypeORM's own default name (TypeORM #10418)
  @Column({ type: "enum", enum: ["x", "y"], enumName: "k_enum_default_name_v_enum", default: "x" })
  v: string;
}
@Entity("k_enum_named")
class EnumNamed {
  @PrimaryColumn("int") id: number;
  @Column({ type: "enum", enum: ["p", "q"], enumName: "k_mood" }) v: string;
}
@Entity("k_enum_added")
class EnumAdded {
  @PrimaryColumn("int") id: number;
  @Column({ type: "enum", enum: ["a", "b", "c"], enumName: "k_enum_added_v_enum" }) v: string;
}
@Entity("k_enum_renamed")
class EnumRenamed {
  @PrimaryColumn("int") id: number;
  @Column({ type: "enum", enum: ENUM_AB, enumName: "new_state" }) v: string;
}
@Entity("k_default_function")
class DefaultFunction {
  @PrimaryColumn("int") id: number;
  @Column({ type: "timestamptz", default: () => "now()" }) v: Date;
}
@Entity("k_default_current_timestamp3")
class DefaultCurrentTimestamp3 {
  @PrimaryColumn("int") id: number;
  @Column({ type: "timestamptz", precision: 3, default: () => "CURRENT_TIMESTAMP(3)" }) v: Date;
}
@Entity("k_default_expression")
class DefaultExpression {
  @PrimaryColumn("int") id: number;
  // TypeORM #3076
  @Column({ type: "timestamptz", default: () => "now() + interval '30 days'" }) v: Date;
}
@Entity("k_default_json_object")
class DefaultJsonObject {
  @PrimaryColumn("int") id: number;
  @Column({ type: "jsonb", default: { retries: 3, tags: ["a"] } }) v: unknown;
}
@Entity("k_default_json_string")
class DefaultJsonString {
  @PrimaryColumn("int") id: number;
  // TypeORM #10038
  @Column({ type: "jsonb", default: '{"mode":"full"}' }) v: unknown;
}
@Entity("k_default_array")
class DefaultArray {
  @PrimaryColumn("int") id: number;
  @Column({ type: "text", array: true, default: () => "'{}'" }) v: string[];
}
@Entity("k_default_simple")
class DefaultSimple {
  @PrimaryColumn("int") id: number;
  @Column({ type: "boolean", default: false }) flag: boolean;
  @Column({ type: "int", default: 0 }) count: number;
  @Column({ type: "varchar", default: "none" }) label: string;
}
@Entity("k_numeric")
class NumericPrecision {
  @PrimaryColumn("int") id: number;
  @Column({ type: "numeric", precision: 10, scale: 2, nullable: true }) v: string | null;
}
@Entity("k_varchar_length")
class VarcharLength {
  @PrimaryColumn("int") id: number;
  @Column({ type: "varchar", length: 40, nullable: true }) v: string | null;
}
@Entity("k_int_array")
class IntArray {
  @PrimaryColumn("int") id: number;
  @Column({ type: "int", array: true, nullable: true }) v: number[] | null;
}
@Entity("k_uuid_default")
class UuidDefault {
  @PrimaryColumn("int") id: number;
  // TypeORM #9750
  @Column({ type: "uuid", default: () => "gen_random_uuid()" }) v: string;
}
@Entity("k_uuid_generated")
class UuidGenerated {
  @PrimaryGeneratedColumn("uuid") id: string;
  @Column({ type: "uuid" }) @Generated("uuid") other: string;
}
@Entity("k_comment")
class CommentQuoted {
  @PrimaryColumn("int") id: number;
  @Column({ type: "text", nullable: true, comment: `it's "quoted"` }) v: string | null;
}
@Entity("k_partial_index")
@Index("IDX_k_partial_index_v", ["v"], { where: '"v" IS NOT NULL' })
class PartialIndex {
  @PrimaryColumn("int") id: number;
  @Column({ type: "text", nullable: true }) v: string | null;
}
@Entity("k_unique")
@Unique("UQ_k_unique_given_name", ["a", "b"])
class UniqueNamed {
  @PrimaryColumn("int") id: number;
  @Column("int") a: number;
  @Column("int") b: number;
}
@Entity("k_unique_renamed")
@Unique("UQ_k_unique_new", ["v"])
class UniqueRenamed {
  @PrimaryColumn("int") id: number;
  @Column("int") v: number;
}
@Entity("k_check")
@Check("CHK_k_check_v", `"v" IN ('on', 'off')`)
class CheckNamed {
  @PrimaryColumn("int") id: number;
  @Column("text") v: string;
}
@Entity("k_check_edited")
@Check("CHK_k_check_edited_v", '"v" >= 0')
class CheckEdited {
  @PrimaryColumn("int") id: number;
  @Column("int") v: number;
}
@Entity("k_update_date")
class UpdateDate {
  @PrimaryColumn("int") id: number;
  @UpdateDateColumn({ type: "timestamptz" }) v: Date;
}
@Entity("k_version")
class Version {
  @PrimaryColumn("int") id: number;
  @VersionColumn() v: number;
}
@Entity("k_generated_stored")
class GeneratedStored {
  @PrimaryColumn("int") id: number;
  @Column("int") a: number;
  @Column({ type: "int", generatedType: "STORED", asExpression: '"a" * 2' }) doubled: number;
}
@Entity("k_type_change")
class TypeChange {
  @PrimaryColumn("int") id: number;
  @Column({ type: "numeric", nullable: true }) v: string | null;
}
@Entity("k_rename")
class Rename {
  @PrimaryColumn("int") id: number;
  @Column({ name: "new_name", type: "varchar", nullable: true }) v: string | null;
}
@Entity("k_not_null")
class NotNull {
  @PrimaryColumn("int") id: number;
  @Column("int") required: number;
}
@Entity("k_second_entity")
class SecondEntity {
  @PrimaryColumn("int") id: number;
  @Column({ type: "varchar" }) name: string;
}

@Entity("k_extension")
class ExtensionTypes {
  @PrimaryColumn("int") id: number;
  @Column({ type: "citext", nullable: true }) email: string | null;
  @Column({ type: "uuid", default: () => "uuid_generate_v4()" }) legacy: string;
}

@Entity("k_second_entity")
class SecondEntityWithNote {
  @PrimaryColumn("int") id: number;
  @Column({ type: "varchar" }) name: string;
  @Column({ type: "text", nullable: true }) note: string | null;
}

/** The kinds, one row each: what a user writes, and the entity that writes it. */
const KINDS: [kind: string, entity: new () => unknown][] = [
  ["enum whose enumName is TypeORM's default name (#10418)", EnumDefaultName],
  ["enum with a name of its own", EnumNamed],
  ["enum values added", EnumAdded],
  ["enum renamed", EnumRenamed],
  ["default: a function, now()", DefaultFunction],
  ["default: CURRENT_TIMESTAMP(3) on timestamptz(3)", DefaultCurrentTimestamp3],
  ["default: an expression, now() + interval (#3076)", DefaultExpression],
  ["default: a JSON object", DefaultJsonObject],
  ["default: a non-empty JSON string on jsonb (#10038)", DefaultJsonString],
  ["default: an empty array", DefaultArray],
  ["defaults: boolean, integer, string", DefaultSimple],
  ["numeric precision and scale", NumericPrecision],
  ["varchar length changed", VarcharLength],
  ["integer array", IntArray],
  ["gen_random_uuid() on a non-key column (#9750)", UuidDefault],
  ['@PrimaryGeneratedColumn("uuid") and @Generated("uuid")', UuidGenerated],
  ["comment with quotes", CommentQuoted],
  ["partial index", PartialIndex],
  ["@Unique with a given name (kept, not hashed)", UniqueNamed],
  ["@Unique renamed", UniqueRenamed],
  ["@Check", CheckNamed],
  ["@Check edited after it was applied (#11714)", CheckEdited],
  ["@UpdateDateColumn", UpdateDate],
  ["@VersionColumn added to a table with rows", Version],
  ["generated STORED column", GeneratedStored],
  ["type change bigint → numeric with rows", TypeChange],
  ["column renamed with rows", Rename],
  ["NOT NULL column without a default, backfilled", NotNull],
  ["a second entity", SecondEntity],
  ["types and functions from extensions (citext, uuid_generate_v4())", ExtensionTypes],
];
const AFTER = KINDS.map(([, entity]) => entity);

const tableOf = (entity: unknown) =>
  getMetadataArgsStorage().tables.find((t) => t.target === entity)?.name ?? "";

// ── the run ────────────────────────────────────────────────────────────────────────────────────
const dir = await mkdtemp(join(tmpdir(), "generate-catalog-"));
const opened: DataSource[] = [];
let base: PostgresDataSourceOptions;

async function open(entities: unknown[], migrations: unknown[] = []): Promise<DataSource> {
  const ds = new DataSource({
    ...base,
    entities: entities as never,
    migrations: migrations as never,
  });
  await ds.initialize();
  opened.push(ds);
  return ds;
}

/** The generated file, written and imported as the project would load it. */
async function load(migration: GeneratedMigration): Promise<unknown> {
  const path = join(dir, migration.fileName);
  await Bun.write(path, migration.source);
  return (await import(path))[migration.className];
}

async function generate(entities: unknown[], migrations: unknown[], name: string, ts: number) {
  const ds = await open(entities, migrations);
  return generateMigration(ds, name, {
    base,
    entities: ds,
    timestamp: ts,
    backfill: "1",
    lint: async (up) => {
      const inspection = { name, up, down: ["-"], restored: true, difference: [] };
      return lintFindings([inspection], await runSquawk([inspection]), new Map());
    },
  });
}

let before: GeneratedMigration;
let after: GeneratedMigration;
let migrations: unknown[];
let db: Awaited<ReturnType<typeof freshDatabase>>;
let extensionsBeforeAfter: unknown[];
let changes: CatalogChange[];
let inspections: Inspection[];

beforeAll(async () => {
  db = await freshDatabase();
  base = buildDataSourceOptions({ NODE_ENV: "test" }, db);
  before = await generate(BEFORE, [], "Before", 1800000000000);
  const first = await load(before);
  await runMigrations(await open(BEFORE, [first]));
  extensionsBeforeAfter = await query(
    db,
    "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
  );
  await query(
    db,
    `INSERT INTO k_enum_added VALUES (1, 'b'); INSERT INTO k_check_edited VALUES (1, 1);
     INSERT INTO k_type_change VALUES (1, 9007199254740993); INSERT INTO k_rename VALUES (1, 'kept');
     INSERT INTO k_not_null VALUES (1); INSERT INTO k_version VALUES (1);
     INSERT INTO k_varchar_length VALUES (1, 'twenty chars exactly')`,
  );
  after = await generate(AFTER, [first], "After", 1800000000001);
  migrations = [first, await load(after)];
  const ds = await open(AFTER, migrations);
  await runMigrations(ds);
  changes = (await judgeSchema(base, ds, ds)).changes;
  const scratch = new DataSource({
    ...buildDataSourceOptions({ NODE_ENV: "test" }, await freshDatabase()),
    entities: AFTER,
    migrations: migrations as never,
  });
  await scratch.initialize();
  opened.push(scratch);
  inspections = await inspectMigrations(scratch);
}, 60_000);

afterAll(async () => {
  for (const ds of opened) if (ds.isInitialized) await ds.destroy();
});

describe("generate, judged by the catalog, over the column kinds users write", () => {
  test.each(KINDS)("%s: generated, run, check and verify clean", (_kind, entity) => {
    const table = tableOf(entity);
    expect(table).toStartWith("k_");
    const mentions = (line: string) => new RegExp(`\\b${table}\\b`).test(line);
    // check: the record's catalog equals the migrations' catalog for this table
    expect(describeChanges(changes).filter(mentions)).toEqual([]);
    expect([...after.up, ...before.up].some((q) => mentions(q.query))).toBe(true);
    // verify: each down() restores it
    expect(inspections.flatMap((i) => i.difference).filter(mentions)).toEqual([]);
  });

  test("check is clean after run: the record's catalog equals the migrations' catalog", () => {
    expect(describeChanges(changes)).toEqual([]);
  });

  test("a second generate says there is nothing to do, though TypeORM's diff still proposes statements", async () => {
    const ds = await open(AFTER, migrations);
    const typeorm = await diffSchema(ds);
    // TypeORM's own diff never converges on these kinds (#10418, #10038, #3076, #9750)
    expect(typeorm.up.length).toBeGreaterThan(0);
    const second = generate(AFTER, migrations, "Again", 1800000000002);
    await expect(second).rejects.toMatchObject({ kind: "nothingToDo" });
    await expect(second).rejects.toThrow(
      `TypeORM proposed ${typeorm.up.length} statement(s) that change nothing`,
    );
  });

  test("verify is clean: each down() restores the catalog, on a scratch database", async () => {
    expect(inspections.map((i) => [i.name, i.error, i.difference])).toEqual([
      ["Before1800000000000", undefined, []],
      ["After1800000000001", undefined, []],
    ]);
    // lint passes as written: every finding is allowed in the file, with its reason
    const sources = new Map([
      [before.className, before.source],
      [after.className, after.source],
    ]);
    const findings = lintFindings(inspections, await runSquawk(inspections), sources);
    expect(findings.filter((f) => !f.allowed)).toEqual([]);
  });

  test("no scratch, record or shadow database name is in a generated file", () => {
    for (const source of [before.source, after.source]) {
      expect(source).not.toMatch(/backupctl_|t_[0-9a-f]{12}/);
    }
    expect(after.source).toContain("current_database()");
  });

  test("the connection installs no extension: the migration that needs one creates it, first", async () => {
    expect(extensionsBeforeAfter).toEqual([]);
    const installed = await query(db, "SELECT extname FROM pg_extension ORDER BY extname");
    expect(installed.map((r) => r.extname)).toEqual(["citext", "plpgsql", "uuid-ossp"]);
    expect(after.up.slice(0, 2).map((q) => q.query)).toEqual([
      'CREATE EXTENSION IF NOT EXISTS "citext"',
      'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"',
    ]);
    expect(after.down.slice(-2).map((q) => q.query)).toEqual([
      'DROP EXTENSION IF EXISTS "uuid-ossp"',
      'DROP EXTENSION IF EXISTS "citext"',
    ]);
    // @PrimaryGeneratedColumn("uuid") and @Generated("uuid") use the built-in gen_random_uuid()
    expect(after.source).toContain('"id" uuid NOT NULL DEFAULT gen_random_uuid()');
  });

  test("statements TypeORM proposes that change nothing are left out of the file", async () => {
    const ds = await open(AFTER, migrations);
    const typeorm = await diffSchema(ds);
    const next = await generate(
      [...AFTER.filter((e) => e !== SecondEntity), SecondEntityWithNote],
      migrations,
      "AddNote",
      1800000000003,
    );
    expect(next.up).toEqual([{ query: 'ALTER TABLE "k_second_entity" ADD "note" text' }]);
    expect(next.down).toEqual([{ query: 'ALTER TABLE "k_second_entity" DROP COLUMN "note"' }]);
    expect(next.spurious).toBe(typeorm.up.length);
  });

  test("an edited CHECK and a renamed UNIQUE, which TypeORM misses, are written from the catalog", () => {
    expect(after.source).toContain(
      'ALTER TABLE "k_check_edited" ADD CONSTRAINT "CHK_k_check_edited_v" CHECK ((v >= 0))',
    );
    expect(after.source).toContain(
      'ALTER TABLE "k_unique_renamed" RENAME CONSTRAINT "UQ_k_unique_old" TO "UQ_k_unique_new"',
    );
    // enum values added: TypeORM's own ADD VALUE, which keeps the rows
    expect(after.source).toContain(`ALTER TYPE "public"."k_enum_added_v_enum" ADD VALUE 'c'`);
  });

  test("a type change is an ALTER … TYPE … USING both ways, never a drop and add", () => {
    expect(after.source).toContain(
      'ALTER TABLE "k_type_change" ALTER COLUMN "v" TYPE numeric USING "v"::numeric',
    );
    expect(after.source).toContain(
      'ALTER TABLE "k_type_change" ALTER COLUMN "v" TYPE bigint USING "v"::bigint',
    );
    expect(after.source).not.toMatch(/"k_type_change" (DROP COLUMN|ADD) "v"/);
    expect(after.warnings.join("\n")).toContain("k_type_change.v changes type bigint → numeric");
    // Only said: the gate asks at run time, on a table with values, for an explicit yes.
    expect(after.warnings.join("\n")).toContain("down() casts it back to bigint");
    expect(after.source).not.toContain("allowDataLoss");
    expect(before.source).not.toContain("allowDataLoss");
  });

  test("generated files are formatted as biome formats them", async () => {
    for (const { source, fileName } of [before, after]) {
      const biome = Bun.spawn(
        [
          join(PROJECT_ROOT, "node_modules", ".bin", "biome"),
          "format",
          `--stdin-file-path=${fileName}`,
        ],
        { cwd: PROJECT_ROOT, stdin: new TextEncoder().encode(source), stdout: "pipe" },
      );
      expect(await new Response(biome.stdout).text()).toBe(source);
    }
  });

  test("a NOT NULL column without a default is added nullable, backfilled, then set NOT NULL", () => {
    expect(after.source).toContain('ALTER TABLE "k_not_null" ADD "required" integer`');
    expect(after.source).toContain(
      'UPDATE "k_not_null" SET "required" = 1 WHERE "required" IS NULL',
    );
    expect(after.source).toContain('ALTER TABLE "k_not_null" ALTER COLUMN "required" SET NOT NULL');
  });

  test("rows survive up, and down then up again", async () => {
    const rows = async () =>
      query(
        db,
        `SELECT (SELECT v::text FROM k_enum_added) AS enum, (SELECT v FROM k_check_edited) AS checked,
                (SELECT v::text FROM k_type_change) AS typed, (SELECT required FROM k_not_null) AS required,
                (SELECT v FROM k_varchar_length) AS varchar`,
      );
    const up = {
      enum: "b",
      checked: 1,
      typed: "9007199254740993",
      required: 1,
      varchar: "twenty chars exactly",
    };
    expect(await rows()).toEqual([up]);
    expect((await query(db, "SELECT new_name FROM k_rename"))[0]).toEqual({ new_name: "kept" });
    const ds = await open(AFTER, migrations);
    // down() drops the columns up() added and casts numeric back to bigint: with values the
    // data-loss gate (rightly) refuses, for generate writes no reason; the operator says yes.
    await expect(revertLast(ds)).rejects.toMatchObject({ kind: "dataLoss" });
    await query(db, "DELETE FROM k_not_null; DELETE FROM k_version");
    await revertLast(ds, { allowDataLoss: true });
    expect((await query(db, "SELECT v::text AS v FROM k_type_change"))[0]).toEqual({
      v: "9007199254740993",
    });
    expect((await query(db, "SELECT old_name FROM k_rename"))[0]).toEqual({ old_name: "kept" });
    await runMigrations(ds);
    await query(db, "INSERT INTO k_not_null VALUES (1, 1)");
    expect(await rows()).toEqual([up]);
  });

  test("a difference it cannot write is refused (exit 15) with the difference, and the database is left as it was", async () => {
    const other = await freshDatabase();
    await query(
      other,
      `CREATE TABLE "k_second_entity" ("id" integer PRIMARY KEY, "name" varchar NOT NULL)`,
    );
    await query(other, `CREATE VIEW "k_report" AS SELECT count(*) AS n FROM "k_second_entity"`);
    const ds = new DataSource({
      ...buildDataSourceOptions({ NODE_ENV: "test" }, other),
      entities: [SecondEntityWithNote],
      migrations: [],
    });
    await ds.initialize();
    opened.push(ds);
    const catalog = await readCatalog(ds);
    const refused = generateMigration(ds, "AddNote", { base, entities: ds });
    await expect(refused).rejects.toMatchObject({ kind: "generateRefused", exitCode: 15 });
    await expect(refused).rejects.toThrow(
      /view k_report\n {2}record has: {6}\(none\)\n {2}migrations have: .*count\(\*\)[\s\S]*migrate:create/,
    );
    expect(await readCatalog(ds)).toEqual(catalog);
  });
});
