import { beforeAll, describe, expect, test } from "bun:test";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.ts";
import { connectionUrl } from "../../src/config/connection.ts";
import { migrations } from "../../src/db/migrations.ts";
import { LEDGER_TABLE } from "../../src/migrate/ledger.ts";
import { buildMigrator, emptyDir, migrator } from "../support/binaries.ts";
import { databaseEnv, freshDatabase, query } from "../support/database.ts";
import { dev, marks, projectCopy, run } from "../support/project.ts";

let binary: string;
beforeAll(async () => {
  binary = await buildMigrator();
}, 120_000);

const names = migrations.map((m) => m.name);

describe("the compiled migrator", () => {
  test("run, show (text, JSON, --exit-code) and revert from an empty directory and environment", async () => {
    const db = await freshDatabase();
    const env = databaseEnv(db);
    const before = await migrator(binary, ["show"], env);
    expect(before.exitCode).toBe(0);
    expect(marks(before.stdout)).toEqual(names.map((n) => `[ ] ${n}`));
    expect((await migrator(binary, ["show", "--exit-code"], env)).exitCode).toBe(5);

    const ran = await migrator(binary, [], env); // no command: run
    expect(ran.exitCode).toBe(0);
    for (const name of names) expect(ran.stderr).toContain(`applied ${name}`);

    const json = JSON.parse((await migrator(binary, ["show", "--json"], env)).stdout);
    expect(json).toMatchObject({ applied: names.length, pending: 0 });
    expect((await migrator(binary, ["show", "--exit-code"], env)).exitCode).toBe(0);

    const reverted = await migrator(binary, ["revert", "--steps", "2", "--json"], env);
    expect(reverted.exitCode).toBe(0);
    expect(JSON.parse(reverted.stdout)).toEqual({ reverted: names.slice(-2).reverse() });
    const after = marks((await migrator(binary, ["show"], env)).stdout);
    expect(after).toEqual(names.map((n, i) => `${i < names.length - 2 ? "[X]" : "[ ]"} ${n}`));
  });

  test("agrees with bun run dev migrate:show and TypeORM's CLI on the same database", async () => {
    const db = await freshDatabase();
    const env = databaseEnv(db);
    await migrator(binary, ["run"], env);
    await migrator(binary, ["revert"], env);
    const cwd = await projectCopy();
    const fromDev = (await dev(cwd, ["migrate:show"], { ...env, BACKUPCTL_DEV_DB: "external" }))
      .stdout;
    const fromBinary = (await migrator(binary, ["show"], env)).stdout;
    expect(fromBinary).toBe(fromDev);
    const typeorm = await run(
      [
        process.execPath,
        "./node_modules/typeorm/cli.js",
        "migration:show",
        "-d",
        "src/db/datasource.ts",
      ],
      {
        cwd,
        env: { ...env, NODE_ENV: "development" },
      },
    );
    const applied = (text: string) =>
      names.filter((n) => text.split("\n").some((l) => l.includes(n) && l.includes("[X]")));
    expect(applied(typeorm.stdout)).toEqual(applied(fromBinary));
    expect(applied(fromBinary)).toEqual(names.slice(0, -1));

    // show reads the checksums baked in by the build, not the classes: an applied migration
    // whose recorded checksum differs is "changed" to both, and both refuse to run past it.
    await query(db, `UPDATE "${LEDGER_TABLE}" SET checksum = repeat('0', 64) WHERE name = $1`, [
      names[0],
    ]);
    const edited = await migrator(binary, ["show", "--json"], env);
    const devEdited = await dev(cwd, ["migrate:show", "--json"], {
      ...env,
      BACKUPCTL_DEV_DB: "external",
    });
    expect(edited.stdout).toBe(devEdited.stdout);
    expect(edited.stdout).toContain('"changed"');
    expect((await migrator(binary, ["run"], env)).exitCode).toBe(EXIT_CODES.checksum);
  });

  test("show waits for the database like run: a closed port times out with exit 3", async () => {
    const db = await freshDatabase();
    const closed = await migrator(
      binary,
      ["show", "--timeout", "1"],
      databaseEnv({ ...db, port: 1 }),
    );
    expect(closed.exitCode).toBe(3);
    expect(closed.stderr).toMatch(
      /error: cannot connect to postgres:\/\/.*still failing after waiting \d+ s/,
    );
  });

  test("wait: returns once the database answers; a closed port times out with exit 3", async () => {
    const db = await freshDatabase();
    const up = await migrator(binary, ["wait", "--timeout", "5"], databaseEnv(db));
    expect(up.exitCode).toBe(0);
    const started = Date.now();
    const closed = await migrator(
      binary,
      ["wait", "--timeout", "2"],
      databaseEnv({ ...db, port: 1 }),
    );
    expect(closed.exitCode).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(closed.stderr).toMatch(
      /error: cannot connect to postgres:\/\/.*still failing after waiting \d+ s/,
    );
  });

  test("bad credentials fail at once with exit 3 and never print the password", async () => {
    const db = await freshDatabase();
    const secret = "Wr0ng-Pa55word";
    const started = Date.now();
    const result = await migrator(binary, ["run", "--timeout", "30"], {
      DATABASE_URL: connectionUrl({ ...db, password: secret }),
    });
    expect(result.exitCode).toBe(3);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.stderr).toContain("password authentication failed");
    expect(result.stdout + result.stderr).not.toContain(secret);
  });

  test("usage errors: unknown command, bad --steps, no password in production", async () => {
    const db = await freshDatabase();
    const unknown = await migrator(binary, ["migrate-everything"], databaseEnv(db));
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      "error: unknown command migrate-everything (see migrator --help)",
    );
    expect((await migrator(binary, ["revert", "--steps", "0"], databaseEnv(db))).exitCode).toBe(2);
    const noPassword = await migrator(binary, ["run"], {
      AUDIT_DB_HOST: "127.0.0.1",
      AUDIT_DB_NAME: "a",
      AUDIT_DB_USER: "b",
    });
    expect(noPassword.exitCode).toBe(2);
    expect(noPassword.stderr).toContain("password is required in production");
    const help = await migrator(binary, ["--help"], {});
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("run|show|revert|resolve|wait|version");
  });

  test("version carries the package version and git revision; .env beside it is ignored", async () => {
    const result = await migrator(binary, ["version", "--json"], {});
    expect(result.exitCode).toBe(0);
    const info = JSON.parse(result.stdout);
    expect(info.version).toBe((await Bun.file("package.json").json()).version);
    expect(info.revision).toMatch(/^[0-9a-f]{12}(-dirty)?$/);

    const dir = await emptyDir();
    await writeFile(join(dir, ".env"), "DATABASE_URL=postgres://x:y@127.0.0.1:1/nothing\n");
    const proc = Bun.spawn([binary, "show", "--timeout", "0"], {
      cwd: dir,
      env: {},
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(2); // no configuration at all: production wants a password
  });
});

describe("in a minimal root filesystem (what the slim image gives it)", () => {
  test("migrates with only the binary, its shared libraries, /etc/hosts and /proc", async () => {
    const root = await emptyDir();
    await cp(binary, join(root, "migrator"));
    const ldd = await run(["ldd", binary], { cwd: root });
    const libraries = [...ldd.stdout.matchAll(/(\/\S+)/g)].map((m) => m[1] as string);
    expect(libraries.length).toBeGreaterThan(0);
    for (const library of libraries) {
      await mkdir(join(root, dirname(library)), { recursive: true });
      await cp(library, join(root, library), { dereference: true });
    }
    await mkdir(join(root, "proc"));
    await mkdir(join(root, "etc"));
    await writeFile(join(root, "etc", "hosts"), "127.0.0.1 localhost\n");

    const db = await freshDatabase();
    const url = connectionUrl({ ...db, host: "localhost" });
    const chroot = Bun.which("chroot") ?? "/usr/sbin/chroot";
    // A private mount namespace, so /proc is unmounted when the command ends. Non-root user, as
    // in the image (distroless "nonroot" is 65532).
    const script = `mount -t proc proc "$1/proc" && exec env -i DATABASE_URL="$2" ${chroot} --userspec=65532:65532 "$1" /migrator run`;
    const result = await run(
      ["unshare", "--mount", "--fork", "sh", "-c", script, "sh", root, url],
      { cwd: root },
    );
    expect(result.stderr).toContain(`applied ${names.at(-1)}`);
    expect(result.exitCode).toBe(0);
    const applied = await query(db, "SELECT name FROM migrations ORDER BY id");
    expect(applied.map((r) => r.name)).toEqual(names);
  });
});
