import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { databaseEnv, freshDatabase } from "../support/database.ts";
import { dev, projectCopy } from "../support/project.ts";

async function workspace() {
  const [cwd, db] = await Promise.all([projectCopy(), freshDatabase()]);
  const env = { ...databaseEnv(db), BACKUPCTL_DEV_DB: "external" };
  return { cwd, db, cli: (...args: string[]) => dev(cwd, args, env) };
}

/** A hand-written migration file, the way a developer fills in migrate:create's template. */
function migration(
  name: string,
  timestamp: number,
  up: string,
  down: string,
  comment = "",
): [string, string] {
  return [
    `${timestamp}-${name}.ts`,
    `import type { MigrationInterface, QueryRunner } from "typeorm";
${comment}
export class ${name}${timestamp} implements MigrationInterface {
  name = "${name}${timestamp}";

  public async up(queryRunner: QueryRunner): Promise<void> {
    ${up}
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    ${down}
  }
}
`,
  ];
}

async function add(cwd: string, [file, source]: [string, string]) {
  await Bun.write(join(cwd, "migrations", file), source);
}

describe("migrate:check", () => {
  test("the project's own migrations pass every check", async () => {
    const { cli } = await workspace();
    const result = await cli("migrate:check");
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("ok   src/db/migrations.ts lists every migration");
    expect(result.stderr).toContain("ok   the record matches the migrations");
    expect(result.stderr).toContain("ok   lint");
    expect(result.stderr).toContain("ok   every migration reverts");
  });

  test("a stale registry fails it with exit 13, and is not mended by it", async () => {
    const { cwd, cli } = await workspace();
    await add(
      cwd,
      migration(
        "AddNote",
        1800000000000,
        'await queryRunner.query(`ALTER TABLE "backup_log" ADD "note" text`);',
        'await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "note"`);',
      ),
    );
    const registry = await Bun.file(join(cwd, "src/db/migrations.ts")).text();
    const result = await cli("migrate:check");
    expect(result.exitCode).toBe(13);
    expect(result.stderr).toContain("FAIL src/db/migrations.ts lists every migration");
    expect(await Bun.file(join(cwd, "src/db/migrations.ts")).text()).toBe(registry);
  });

  test("a file in migrations/ that does not follow the naming rule is reported, not silently skipped", async () => {
    const { cwd, cli } = await workspace();
    await Bun.write(join(cwd, "migrations", "add-notes.ts"), "export class AddNotes {}\n");
    const show = await cli("migrate:show");
    expect(show.exitCode).toBe(0);
    expect(show.stderr).toContain(
      "warning: migrations/add-notes.ts is not named {13-digit timestamp}-{PascalCaseName}.ts",
    );
    const check = await cli("migrate:check");
    expect(check.exitCode).toBe(13);
    expect(check.stderr).toContain(
      "FAIL every .ts file in migrations/ is named {timestamp}-{Name}.ts: not add-notes.ts",
    );
  });

  test("a record that differs from the migrations fails it with exit 6", async () => {
    const { cwd, cli } = await workspace();
    const record = join(cwd, "src/domain/audit/backup-log.record.ts");
    await Bun.write(
      record,
      (await Bun.file(record).text()).replace(
        '  @CreateDateColumn({ name: "created_at"',
        '  @Column({ type: "text", nullable: true })\n  note: string | null;\n\n  @CreateDateColumn({ name: "created_at"',
      ),
    );
    const result = await cli("migrate:check");
    expect(result.exitCode).toBe(6);
    // The catalog difference, not TypeORM's SQL.
    expect(result.stdout).toBe(
      "column backup_log.note\n  record has:      text null\n  migrations have: (none)\n",
    );
  });

  test("--database: an applied migration edited since fails it with exit 10", async () => {
    const { cwd, cli } = await workspace();
    expect((await cli("migrate:run")).exitCode).toBe(0);
    const file = join(cwd, "migrations/1742467200000-AddBackupTypeToBackupLog.ts");
    await Bun.write(file, `${await Bun.file(file).text()}// edited after it was applied\n`);
    expect((await cli("migrate:check")).exitCode).toBe(0); // without --database: the source alone is fine
    const result = await cli("migrate:check", "--database");
    expect(result.exitCode).toBe(10);
    expect(result.stderr).toContain(
      "FAIL no applied migration edited: AddBackupTypeToBackupLog1742467200000",
    );
  });
});

describe("migrate:lint", () => {
  test("a destructive statement is reported with migration, statement and rule, until allowed after review", async () => {
    const { cwd, cli } = await workspace();
    const drop = 'await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "snapshot_mode"`);';
    const restore =
      'await queryRunner.query(`ALTER TABLE "backup_log" ADD "snapshot_mode" character varying`);';
    await add(cwd, migration("DropSnapshotMode", 1800000000000, drop, restore));
    const result = await cli("migrate:lint");
    expect(result.exitCode).toBe(11);
    expect(result.stdout).toContain("DropSnapshotMode1800000000000: ban-drop-column");
    expect(result.stdout).toContain('ALTER TABLE "backup_log" DROP COLUMN "snapshot_mode"');

    await add(
      cwd,
      migration(
        "DropSnapshotMode",
        1800000000000,
        drop,
        restore,
        "// squawk-ignore ban-drop-column: nothing reads it since 2.3\n",
      ),
    );
    const allowed = await cli("migrate:lint");
    expect(allowed.exitCode).toBe(0);
    expect(allowed.stderr).toContain("ban-drop-column (allowed by a squawk-ignore comment)");
  });

  test("lock-heavy statements: NOT NULL without a default, an index without CONCURRENTLY", async () => {
    const { cwd, cli } = await workspace();
    await add(
      cwd,
      migration(
        "AddHostRequired",
        1800000000000,
        'await queryRunner.query(`ALTER TABLE "backup_log" ADD "host" varchar NOT NULL`);\n    await queryRunner.query(`CREATE INDEX "IDX_host" ON "backup_log" ("host")`);',
        'await queryRunner.query(`DROP INDEX "IDX_host"`);\n    await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "host"`);',
      ),
    );
    const result = await cli("migrate:lint");
    expect(result.exitCode).toBe(11);
    expect(result.stdout).toContain("AddHostRequired1800000000000: adding-required-field");
    expect(result.stdout).toContain(
      "AddHostRequired1800000000000: require-concurrent-index-creation",
    );
  });
});

describe("a migration that cannot run", () => {
  test("lint reports it (up-failed) instead of calling the migrations clean", async () => {
    const { cwd, cli } = await workspace();
    await add(
      cwd,
      migration(
        "Broken",
        1800000000000,
        'await queryRunner.query(`ALTER TABLE "nope" ADD "x" int`);',
        "await queryRunner.query(`SELECT 1`);",
      ),
    );
    const lint = await cli("migrate:lint");
    expect(lint.exitCode).toBe(11);
    expect(lint.stdout).toContain("Broken1800000000000: up-failed");
    expect(lint.stdout).toContain('relation "nope" does not exist');
  });
});

describe("migrate:verify and empty down()", () => {
  test("a down() that does not restore the schema is named, with what it left behind (exit 12)", async () => {
    const { cwd, cli } = await workspace();
    await add(
      cwd,
      migration(
        "AddFlagOneWay",
        1800000000000,
        'await queryRunner.query(`ALTER TABLE "backup_log" ADD "flag" boolean`);',
        "// forgot",
      ),
    );
    const verify = await cli("migrate:verify");
    expect(verify.exitCode).toBe(12);
    expect(verify.stdout).toContain(
      "AddFlagOneWay1800000000000: down() does not restore the schema up() changed",
    );
    expect(verify.stdout).toContain("+ column backup_log.flag: boolean null");
    const lint = await cli("migrate:lint");
    expect(lint.exitCode).toBe(11);
    expect(lint.stdout).toContain("AddFlagOneWay1800000000000: empty-down");
    // check reports every failure, and exits with the first: here the record lacks the column too.
    const check = await cli("migrate:check");
    expect(check.exitCode).toBe(6);
    expect(check.stderr).toContain("FAIL the record matches the migrations");
    expect(check.stderr).toContain("FAIL lint");
    expect(check.stderr).toContain("FAIL every migration reverts");
  });

  test("a down() that fails is named too", async () => {
    const { cwd, cli } = await workspace();
    await add(
      cwd,
      migration(
        "AddThing",
        1800000000000,
        'await queryRunner.query(`ALTER TABLE "backup_log" ADD "thing" int`);',
        'await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "no_such_column"`);',
      ),
    );
    const verify = await cli("migrate:verify");
    expect(verify.exitCode).toBe(12);
    expect(verify.stdout).toContain(
      'AddThing1800000000000: down() failed: column "no_such_column" of relation "backup_log" does not exist',
    );
  });

  test("an up() that cannot run again after down() is a finding (exit 12), and the migrations after it are still verified", async () => {
    const { cwd, cli } = await workspace();
    await add(
      cwd,
      migration(
        "AddAnswer",
        1800000000000,
        "await queryRunner.query(`CREATE FUNCTION answer() RETURNS integer LANGUAGE sql AS 'SELECT 42'`);",
        "// forgets the function",
      ),
    );
    await add(
      cwd,
      migration(
        "AddNote",
        1800000000001,
        'await queryRunner.query(`ALTER TABLE "backup_log" ADD "note" text`);',
        'await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "note"`);',
      ),
    );
    const verify = await cli("migrate:verify");
    expect(verify.exitCode).toBe(12);
    expect(verify.stdout).toContain(
      'AddAnswer1800000000000: up() after down() failed: function "answer" already exists with same argument types',
    );
    expect(verify.stderr).toContain("ok AddNote1800000000001");
    expect(verify.stderr).toContain("error: not reversible: AddAnswer1800000000000\n");
  });
});
