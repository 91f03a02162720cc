import { describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { migrations } from "../../src/db/migrations.ts";
import { databaseEnv, freshDatabase, query } from "../support/database.ts";
import { dev, marks, projectCopy, run } from "../support/project.ts";

/** A project copy whose dev CLI talks to its own fresh database on the test server. */
async function workspace() {
  const [cwd, db] = await Promise.all([projectCopy(), freshDatabase()]);
  const env = { ...databaseEnv(db), BACKUPCTL_DEV_DB: "external" };
  return { cwd, db, cli: (...args: string[]) => dev(cwd, args, env) };
}

const RECORD = "src/domain/audit/backup-log.record.ts";

async function editRecord(cwd: string, edit: (source: string) => string) {
  const path = join(cwd, RECORD);
  const before = await Bun.file(path).text();
  const after = edit(before);
  expect(after).not.toBe(before);
  await Bun.write(path, after);
}

/** Adds a property just before created_at, the last column. */
const addProperty = (property: string) => (source: string) =>
  source.replace(
    '  @CreateDateColumn({ name: "created_at"',
    `${property}\n\n  @CreateDateColumn({ name: "created_at"`,
  );

/** Fills a migrate:create template the way a developer does. */
async function fillMigration(path: string, up: string, down: string) {
  const source = await Bun.file(path).text();
  const [first, second] = source.split(
    /throw new Error\(`\$\{this\.name\}: (?:up|down)\(\) is not written yet`\);/,
  );
  const third = source.split(/is not written yet`\);/)[2];
  await Bun.write(
    path,
    `${first}${up}${second?.split("is not written yet`);")[0] ?? ""}${down}${third ?? ""}`,
  );
}

async function columnType(db: ConnectionSettings, column: string) {
  const rows = await query(
    db,
    "SELECT data_type FROM information_schema.columns WHERE table_name = 'backup_log' AND column_name = $1",
    [column],
  );
  return rows[0]?.data_type ?? null;
}

const allNames = migrations.map((m) => m.name);

describe("migrate:show / migrate:run", () => {
  test("show lists pending then applied, as text and JSON; --exit-code signals pending", async () => {
    const { cli } = await workspace();
    const before = await cli("migrate:show");
    expect(before.exitCode).toBe(0);
    expect(marks(before.stdout)).toEqual(allNames.map((n) => `[ ] ${n}`));
    expect((await cli("migrate:show", "--exit-code")).exitCode).toBe(5);

    const ran = await cli("migrate:run");
    expect(ran.exitCode).toBe(0);
    for (const name of allNames) expect(ran.stderr).toContain(`applied ${name}`);

    const after = await cli("migrate:show");
    expect(marks(after.stdout)).toEqual(allNames.map((n) => `[X] ${n}`));
    const json = JSON.parse((await cli("migrate:show", "--json")).stdout);
    expect(json.pending).toBe(0);
    expect(
      json.migrations.map((m: { name: string; applied: boolean }) => [m.name, m.applied]),
    ).toEqual(allNames.map((n) => [n, true]));
    expect((await cli("migrate:show", "--exit-code")).exitCode).toBe(0);
    const again = await cli("migrate:run");
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain("Nothing to run");
  });

  test("TypeORM's own CLI under Bun agrees with migrate:show", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await cli("migrate:revert");
    const typeorm = await run(
      [
        process.execPath,
        "./node_modules/typeorm/cli.js",
        "migration:show",
        "-d",
        "src/db/datasource.ts",
      ],
      { cwd, env: { ...databaseEnv(db), NODE_ENV: "development" } },
    );
    expect(typeorm.exitCode).toBe(0);
    const ours = (await cli("migrate:show")).stdout;
    const marks = (text: string) =>
      allNames.map((name) => {
        const line = text.split("\n").find((l) => l.includes(name)) ?? "";
        return [name, line.includes("[X]")];
      });
    expect(marks(typeorm.stdout)).toEqual(marks(ours));
    expect(marks(ours).at(-1)).toEqual([String(allNames.at(-1)), false]);
  });
});

describe("migrate:generate", () => {
  test("diffs against a shadow database, so the dev database need not be up to date", async () => {
    const { cli } = await workspace();
    const check = await cli("migrate:generate", "--check");
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toMatch(
      /Diffing against the shadow database backupctl_shadow_[0-9a-f]{16}/,
    );
    const again = await cli("migrate:generate", "--check");
    expect(again.stderr).toContain("(reused)");
    expect((await cli("migrate:generate", "--check", "--against", "nowhere")).exitCode).toBe(2);
  });

  test("--against dev refuses while migrations are pending, and finds nothing on an up-to-date database", async () => {
    const { cwd, cli } = await workspace();
    const pending = await cli("migrate:generate", "AddSomething", "--against", "dev");
    expect(pending.exitCode).toBe(5);
    expect(pending.stderr).toContain("pending migration");
    await cli("migrate:run");
    const nothing = await cli("migrate:generate", "AddSomething", "--against", "dev");
    expect(nothing.exitCode).toBe(7);
    expect(nothing.stderr.trim()).toStartWith("error: No changes in database schema were found");
    expect(nothing.stderr.trim().split("\n")).toHaveLength(1);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
    expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);
  });

  test.each(["add tags", "../../etc/Passwd", "AddTags;touch x", "addTags", "Add$(id)"])(
    "refuses the name %p before touching anything",
    async (name) => {
      const { cwd, cli } = await workspace();
      for (const command of ["migrate:generate", "migrate:create"]) {
        const result = await cli(command, name);
        expect(result.exitCode).toBe(2);
        expect(result.stderr.trim().split("\n")).toHaveLength(1);
        expect(result.stderr).toContain("PascalCase");
      }
      expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);
    },
  );

  test("pattern: add a column — generate, review, run, show, revert", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await editRecord(
      cwd,
      addProperty('  @Column({ type: "jsonb", nullable: true })\n  tags: unknown;'),
    );

    const check = await cli("migrate:generate", "--check");
    expect(check.exitCode).toBe(6);
    expect(check.stdout).toContain("column backup_log.tags\n  record has:      jsonb null\n");

    const dry = await cli("migrate:generate", "AddTagsToBackupLog", "--dry-run");
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain("export class AddTagsToBackupLog");
    expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);

    const generated = await cli("migrate:generate", "AddTagsToBackupLog");
    expect(generated.exitCode).toBe(0);
    expect(generated.stderr).toContain('ADD "tags" jsonb');
    const file = generated.stdout.trim();
    // Absolute, so it opens from whatever directory the command was typed in.
    expect(file).toStartWith(join(cwd, "migrations/"));
    expect(file).toMatch(/\/migrations\/\d{13}-AddTagsToBackupLog\.ts$/);
    const source = await Bun.file(file).text();
    expect(source).toContain('DROP COLUMN "tags"');
    expect(await Bun.file(join(cwd, "src/db/migrations.ts")).text()).toContain(
      "AddTagsToBackupLog",
    );

    expect((await cli("migrate:show")).stdout).toMatch(/\[ \] AddTagsToBackupLog\d{13}/);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await columnType(db, "tags")).toBe("jsonb");
    expect((await cli("migrate:show")).stdout).toMatch(/\[X\] AddTagsToBackupLog\d{13}/);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);

    const reverted = await cli("migrate:revert");
    expect(reverted.exitCode).toBe(0);
    expect(reverted.stderr).toMatch(/reverted AddTagsToBackupLog\d{13}/);
    expect(await columnType(db, "tags")).toBeNull();
    expect((await cli("migrate:show")).stdout).toMatch(/\[ \] AddTagsToBackupLog\d{13}/);
  });

  test("pattern: add an index", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await editRecord(cwd, (s) =>
      s.replace(
        '@Index("IDX_backup_log_status", ["status"])',
        '@Index("IDX_backup_log_status", ["status"])\n@Index("IDX_backup_log_backup_type", ["backupType"])',
      ),
    );
    const generated = await cli("migrate:generate", "CreateIndexOnBackupType");
    expect(generated.exitCode).toBe(0);
    expect(generated.stderr).toContain('CREATE INDEX "IDX_backup_log_backup_type"');
    expect((await cli("migrate:run")).exitCode).toBe(0);
    const indexes = async () =>
      (await query(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'backup_log'")).map(
        (r) => r.indexname,
      );
    expect(await indexes()).toContain("IDX_backup_log_backup_type");
    expect((await cli("migrate:revert")).exitCode).toBe(0);
    expect(await indexes()).not.toContain("IDX_backup_log_backup_type");
  });

  test("pattern: change a column type, schema-first: generated as ALTER … TYPE … USING, rows survive up and down", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at, duration_ms) VALUES (gen_random_uuid(), 'p', 'success', now(), 9007199254740993)",
    );
    await editRecord(cwd, (s) =>
      s.replace(
        '@Column({ name: "duration_ms", type: "bigint", nullable: true })',
        '@Column({ name: "duration_ms", type: "numeric", nullable: true })',
      ),
    );
    const generated = await cli("migrate:generate", "ChangeDurationToNumeric");
    expect(generated.exitCode).toBe(0);
    expect(generated.stderr).toContain(
      'ALTER TABLE "backup_log" ALTER COLUMN "duration_ms" TYPE numeric USING "duration_ms"::numeric;',
    );
    expect(generated.stderr).not.toContain("DROP COLUMN");
    expect(generated.stderr).toContain("down() casts it back to bigint, which can lose precision");
    expect(generated.stderr).toContain(
      'lint changing-column-type: ALTER TABLE "backup_log" ALTER COLUMN',
    );
    const source = await Bun.file(resolve(cwd, generated.stdout.trim())).text();
    expect(source).toContain("// squawk-ignore changing-column-type: the record changes the type");
    expect(source).toContain('TYPE bigint USING "duration_ms"::bigint');
    // generate says the way back can lose precision, and leaves the yes to whoever reverts
    expect(generated.stderr).toContain("down() casts it back to bigint");
    expect(source).not.toContain("allowDataLoss");
    // generate → review/check → run: the file passes every check before it is applied
    expect((await cli("migrate:check")).exitCode).toBe(0);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    const duration = async () =>
      (await query(db, "SELECT duration_ms::text AS d FROM backup_log"))[0]?.d;
    expect(await columnType(db, "duration_ms")).toBe("numeric");
    expect(await duration()).toBe("9007199254740993");
    // bigint → numeric kept every value; numeric → bigint may round: the gate asks first
    const refused = await cli("migrate:revert");
    expect(refused.exitCode).toBe(14);
    expect(await columnType(db, "duration_ms")).toBe("numeric");
    expect((await cli("migrate:revert", "--allow-data-loss")).exitCode).toBe(0);
    expect(await columnType(db, "duration_ms")).toBe("bigint");
    expect(await duration()).toBe("9007199254740993");
  }, 60_000);

  test("pattern: rename a column, schema-first: generated as RENAME COLUMN, rows survive up and down", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at, snapshot_mode) VALUES (gen_random_uuid(), 'p', 'success', now(), 'full')",
    );
    await editRecord(cwd, (s) => s.replace('name: "snapshot_mode"', 'name: "snapshot_kind"'));
    const generated = await cli("migrate:generate", "RenameSnapshotModeToSnapshotKind");
    expect(generated.exitCode).toBe(0);
    const source = await Bun.file(resolve(cwd, generated.stdout.trim())).text();
    expect(source).toContain('RENAME COLUMN "snapshot_mode" TO "snapshot_kind"');
    expect(source).toContain("// squawk-ignore renaming-column: the record renames the column");
    expect((await cli("migrate:lint")).exitCode).toBe(0);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_kind FROM backup_log")).toEqual([
      { snapshot_kind: "full" },
    ]);
    expect((await cli("migrate:revert")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_mode FROM backup_log")).toEqual([
      { snapshot_mode: "full" },
    ]);
  }, 60_000);

  test("a NOT NULL column without a default: refused with advice (exit 15), or backfilled with --backfill", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at) VALUES (gen_random_uuid(), 'p', 'success', now())",
    );
    await editRecord(cwd, addProperty('  @Column({ type: "varchar" })\n  host: string;'));
    const refused = await cli("migrate:generate", "AddHost");
    expect(refused.exitCode).toBe(15);
    expect(refused.stderr.trim().split("\n").at(-1)).toContain(
      "error: the record adds the NOT NULL column backup_log.host without a default to an existing table",
    );
    expect(refused.stderr).toContain("--backfill");
    expect(await readdir(join(cwd, "migrations"))).toHaveLength(allNames.length);

    const generated = await cli("migrate:generate", "AddHost", "--backfill", "'unknown'");
    expect(generated.exitCode).toBe(0);
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await query(db, "SELECT host FROM backup_log")).toEqual([{ host: "unknown" }]);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
  }, 60_000);

  test("pattern: rename a column keeps the data (hand-written with migrate:create)", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      "INSERT INTO backup_log (id, project_name, status, started_at, snapshot_mode) VALUES (gen_random_uuid(), 'p', 'success', now(), 'full')",
    );
    await editRecord(cwd, (s) => s.replace('name: "snapshot_mode"', 'name: "snapshot_kind"'));
    const check = await cli("migrate:generate", "--check");
    expect(check.exitCode).toBe(6);
    expect(check.stdout).toContain(
      "column backup_log.snapshot_kind\n  record has:      character varying null\n  migrations have: (none)",
    );

    const created = await cli("migrate:create", "RenameSnapshotModeToSnapshotKind");
    expect(created.exitCode).toBe(0);
    await fillMigration(
      resolve(cwd, created.stdout.trim()),
      'await queryRunner.renameColumn("backup_log", "snapshot_mode", "snapshot_kind");',
      'await queryRunner.renameColumn("backup_log", "snapshot_kind", "snapshot_mode");',
    );
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_kind FROM backup_log")).toEqual([
      { snapshot_kind: "full" },
    ]);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
    expect((await cli("migrate:revert")).exitCode).toBe(0);
    expect(await query(db, "SELECT snapshot_mode FROM backup_log")).toEqual([
      { snapshot_mode: "full" },
    ]);
  });

  test("pattern: data migration with backfill", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    await query(
      db,
      `INSERT INTO backup_log (id, project_name, status, started_at, encrypted)
       VALUES (gen_random_uuid(), 'a', 'success', now(), true), (gen_random_uuid(), 'b', 'success', now(), false)`,
    );
    await editRecord(
      cwd,
      addProperty(
        '  @Column({ name: "is_encrypted", type: "boolean", default: false })\n  isEncrypted: boolean;',
      ),
    );
    const created = await cli("migrate:create", "BackfillIsEncrypted");
    await fillMigration(
      resolve(cwd, created.stdout.trim()),
      `await queryRunner.addColumn("backup_log", new TableColumn({ name: "is_encrypted", type: "boolean", default: false }));
    await queryRunner.query(\`UPDATE backup_log SET is_encrypted = true WHERE encrypted = true\`);`,
      'await queryRunner.dropColumn("backup_log", "is_encrypted");',
    );
    const path = resolve(cwd, created.stdout.trim());
    await Bun.write(
      path,
      (await Bun.file(path).text()).replace(
        'import type { MigrationInterface, QueryRunner } from "typeorm";',
        'import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";',
      ),
    );
    expect((await cli("migrate:run")).exitCode).toBe(0);
    expect(
      await query(db, "SELECT project_name, is_encrypted FROM backup_log ORDER BY project_name"),
    ).toEqual([
      { project_name: "a", is_encrypted: true },
      { project_name: "b", is_encrypted: false },
    ]);
    expect((await cli("migrate:generate", "--check")).exitCode).toBe(0);
    // Its down() drops a column holding values: the data-loss gate asks for the operator's word.
    expect((await cli("migrate:revert")).exitCode).toBe(14);
    expect(await columnType(db, "is_encrypted")).not.toBeNull();
    expect((await cli("migrate:revert", "--allow-data-loss")).exitCode).toBe(0);
    expect(await columnType(db, "is_encrypted")).toBeNull();
  });
});

describe("failures", () => {
  test("an unfinished migrate:create template fails the run and changes nothing", async () => {
    const { cli } = await workspace();
    await cli("migrate:run");
    expect((await cli("migrate:create", "AddLater")).exitCode).toBe(0);
    const failed = await cli("migrate:run");
    expect(failed.exitCode).toBe(4);
    expect(failed.stderr).toMatch(
      /error: migration AddLater\d{13} failed and was rolled back: .*up\(\) is not written yet/,
    );
    expect((await cli("migrate:show")).stdout).toMatch(/\[ \] AddLater\d{13}/);
  });

  test("a migration failing halfway leaves the database as it was; after the fix, run continues", async () => {
    const { cwd, db, cli } = await workspace();
    await cli("migrate:run");
    const first = await cli("migrate:create", "AddWhole");
    await fillMigration(
      resolve(cwd, first.stdout.trim()),
      'await queryRunner.query(`ALTER TABLE "backup_log" ADD "whole" int`);',
      'await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "whole"`);',
    );
    await Bun.sleep(2); // a later timestamp for the second migration
    const created = await cli("migrate:create", "BreakHalfway");
    const path = resolve(cwd, created.stdout.trim());
    await fillMigration(
      path,
      'await queryRunner.query(`ALTER TABLE "backup_log" ADD "half" int`);\n    await queryRunner.query(`SELECT 1/0`);',
      'await queryRunner.query(`ALTER TABLE "backup_log" DROP COLUMN "half"`);',
    );
    const failed = await cli("migrate:run");
    expect(failed.exitCode).toBe(4);
    expect(failed.stderr).toContain("division by zero");
    expect(failed.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await columnType(db, "half")).toBeNull(); // its own change rolled back
    expect(await columnType(db, "whole")).toBe("integer"); // the one before it stays applied
    const ledger = async () =>
      (await query(db, "SELECT name FROM migrations_ledger ORDER BY name")).map((r) =>
        String(r.name),
      );
    expect((await ledger()).some((n) => n.startsWith("BreakHalfway"))).toBe(false);

    await Bun.write(path, (await Bun.file(path).text()).replace("SELECT 1/0", "SELECT 1"));
    const fixed = await cli("migrate:run");
    expect(fixed.exitCode).toBe(0);
    expect(fixed.stderr).toMatch(/1 pending migration\b/);
    expect(await columnType(db, "half")).toBe("integer");
    expect((await ledger()).filter((n) => /^(AddWhole|BreakHalfway)/.test(n))).toHaveLength(2);
  });

  test("unreachable database and wrong password: exit 3, one line, no password in output", async () => {
    const { cwd, db } = await workspace();
    const secret = "Sup3r-Secret-PW";
    for (const url of [
      `postgres://${db.user}:${secret}@127.0.0.1:1/${db.database}`,
      `postgres://${db.user}:${secret}@127.0.0.1:${db.port}/${db.database}`,
    ]) {
      const result = await dev(cwd, ["migrate:show"], {
        DATABASE_URL: url,
        BACKUPCTL_DEV_DB: "external",
      });
      expect(result.exitCode).toBe(3);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toStartWith("error: cannot connect to postgres://");
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
  });

  test("a record that throws while it loads is the developer's error (exit 2), with where", async () => {
    const { cwd, cli } = await workspace();
    await editRecord(cwd, (s) => s.replace("@Entity", '@Check(`"retry_count" >= 0`)\n@Entity'));
    const result = await cli("migrate:generate", "--check");
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toMatch(
      /^error: cannot load the record and the migrations: src\/domain\/audit\/backup-log\.record\.ts:\d+: Check is not defined$/,
    );
  });

  test("revert with nothing applied exits 7", async () => {
    const { cli } = await workspace();
    const result = await cli("migrate:revert");
    expect(result.exitCode).toBe(7);
    expect(result.stderr.trim()).toBe("error: nothing to revert: no migration has been applied");
  });

  test("a mistyped command gets a suggestion; an extra word is refused", async () => {
    const { cli } = await workspace();
    // A typo, or TypeORM's spelling, gets the command that was meant.
    for (const typed of ["migrate:rnu", "migration:run"]) {
      const typo = await cli(typed);
      expect(typo.exitCode).toBe(2);
      expect(typo.stderr.trim()).toBe(
        `error: unknown command ${typed}: did you mean migrate:run? (see bun run dev --help)`,
      );
    }
    // An extra word is refused, not ignored: the user believed it targeted one migration.
    const extra = await cli("migrate:run", "AddBackupTypeToBackupLog1742467200000");
    expect(extra.exitCode).toBe(2);
    expect(extra.stderr.trim()).toBe(
      'error: unexpected argument "AddBackupTypeToBackupLog1742467200000": bun run dev migrate:run takes no arguments (see bun run dev migrate:run --help)',
    );
    expect((await cli("migrate:show")).stdout).not.toContain("[X]"); // nothing ran
    // Bad flag values are refused even when there is nothing to do (no quiet exit 0).
    expect((await cli("migrate:run")).exitCode).toBe(0);
    for (const flags of [
      ["--lock-timeout", "abc"],
      ["--lock-timeout", ""],
      ["--accept-changed", ",,"],
    ]) {
      expect([flags, (await cli("migrate:run", ...flags)).exitCode]).toEqual([flags, 2]);
    }
    // Option values are not extra words.
    expect((await cli("migrate:generate", "A", "B")).exitCode).toBe(2);
  });

  test("an unknown command or flag value is a usage error", async () => {
    const { cli } = await workspace();
    const unknown = await cli("migrate:sideways");
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("unknown command");
    await cli("migrate:run");
    const forced = await cli("migrate:revert", "--force");
    expect(forced.exitCode).toBe(2);
    expect(forced.stderr.trim()).toBe(
      "error: unknown option --force (see bun run dev migrate:revert --help)",
    );
    expect((await cli("migrate:show")).stdout).not.toContain("[ ]"); // nothing was reverted
    // A value given twice is refused: citty would keep the last and revert five.
    const twice = await cli("migrate:revert", "--steps", "1", "--steps=5");
    expect(twice.exitCode).toBe(2);
    expect(twice.stderr.trim()).toBe(
      "error: --steps is given twice: give it once (see bun run dev migrate:revert --help)",
    );
    expect((await cli("migrate:show")).stdout).not.toContain("[ ]"); // nothing was reverted
    expect((await cli("migrate:run", "--dryrun")).exitCode).toBe(2);
    expect((await cli("migrate:show", "-x")).exitCode).toBe(2);
    // Options typed before the command are the command's, checked like any other.
    const before = await cli("--db", "podman", "migrate:show");
    expect(before.exitCode).toBe(2);
    expect(before.stderr).toContain('unknown dev database engine "podman"');
    expect((await cli("--bogus", "migrate:show")).stderr.trim()).toBe(
      "error: unknown option --bogus (see bun run dev migrate:show --help)",
    );
    expect((await cli("--db", "external")).stderr.trim()).toBe(
      "error: options go after the command (see bun run dev --help)",
    );
    const engine = await cli("migrate:show", "--db", "podman");
    expect(engine.exitCode).toBe(2);
    expect(engine.stderr).toContain('unknown dev database engine "podman"');
  });
});
