import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { databaseEnv, query } from "../support/database.ts";
import {
  allNames,
  columnType,
  editRecord,
  fillMigration,
  workspace,
} from "../support/dev-workspace.ts";
import { dev, marks, run } from "../support/project.ts";

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
