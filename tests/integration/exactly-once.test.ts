import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import pg from "pg";
import { DataSource, type MigrationInterface, type QueryRunner } from "typeorm";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { startThrowawayServer } from "../../src/devdb/throwaway.ts";
import { MigrateError } from "../../src/migrate/errors.ts";
import { MIGRATION_LOCK_KEY } from "../../src/migrate/lock.ts";
import { resolveMigration } from "../../src/migrate/resolve.ts";
import { revertMigrations } from "../../src/migrate/revert.ts";
import { runMigrations } from "../../src/migrate/run.ts";
import { migrationStatus } from "../../src/migrate/status.ts";
import { freshDatabase, query } from "../support/database.ts";

// Each test drives real servers and processes: seconds when the machine is idle, more under load.
setDefaultTimeout(20_000);

/**
 * Exactly once under the faults that end a migrator's session: the lock lives on the session
 * that migrates, and each migration claims its row before up() runs.
 */

class CreateEffects1800000000000 implements MigrationInterface {
  name = "CreateEffects1800000000000";
  async up(q: QueryRunner) {
    await q.query(`CREATE TABLE "effects" ("note" text NOT NULL)`);
  }
  async down(q: QueryRunner) {
    await q.query(`DROP TABLE "effects"`);
  }
}

/** A data migration that takes a while: its effect must land exactly once. */
class SlowData1800000000001 implements MigrationInterface {
  name = "SlowData1800000000001";
  async up(q: QueryRunner) {
    await q.query(`INSERT INTO "effects" VALUES ('slow')`);
    await q.query("SELECT pg_sleep(1.5)");
  }
  async down(q: QueryRunner) {
    await q.query(`DELETE FROM "effects" WHERE "note" = 'slow'`);
  }
}

class After1800000000002 implements MigrationInterface {
  name = "After1800000000002";
  async up(q: QueryRunner) {
    await q.query(`INSERT INTO "effects" VALUES ('after')`);
  }
  async down(q: QueryRunner) {
    await q.query(`DELETE FROM "effects" WHERE "note" = 'after'`);
  }
}

const MIGRATIONS = [CreateEffects1800000000000, SlowData1800000000001, After1800000000002];

const open: DataSource[] = [];
afterAll(async () => {
  await Promise.all(open.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
});

async function dataSource(
  db: ConnectionSettings,
  migrations: (new () => MigrationInterface)[] = MIGRATIONS,
) {
  const ds = new DataSource({ ...buildDataSourceOptions({ NODE_ENV: "test" }, db), migrations });
  await ds.initialize();
  open.push(ds);
  return ds;
}

/** Polls until `sql` returns a row (the proof a migrator got where the test needs it). */
async function until(db: ConnectionSettings, sql: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await query(db, sql)).length > 0) return;
    await Bun.sleep(25);
  }
  throw new Error(`timed out waiting for: ${sql}`);
}

const IN_SLEEP = `SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1.5)' AND state = 'active'`;

async function expectExactlyOnce(db: ConnectionSettings) {
  expect(
    await query(db, "SELECT name, count(*)::int AS n FROM migrations GROUP BY name ORDER BY name"),
  ).toEqual(
    MIGRATIONS.map((m) => ({ name: m.name, n: 1 })).sort((a, b) => (a.name < b.name ? -1 : 1)),
  );
  expect(
    await query(db, `SELECT note, count(*)::int AS n FROM effects GROUP BY note ORDER BY note`),
  ).toEqual([
    { note: "after", n: 1 },
    { note: "slow", n: 1 },
  ]);
  expect(await query(db, "SELECT count(*)::int AS n FROM migrations_ledger")).toEqual([
    { n: MIGRATIONS.length },
  ]);
}

describe("losing the migrator's session", () => {
  test("pg_terminate_backend of the lock's holder stops that run (exit 9, what it applied named); the next one applies the rest once", async () => {
    const db = await freshDatabase();
    const first = runMigrations(await dataSource(db), { lockTimeoutMs: 30_000 }).catch(
      (error: unknown) => error,
    );
    await until(db, IN_SLEEP);
    const second = runMigrations(await dataSource(db), { lockTimeoutMs: 30_000 });
    // The operator's move from the README: terminate the session that holds the lock.
    const [holder] = await query<{ pid: number }>(
      db,
      // This database's holder only: other test files migrate other databases on the same server.
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = $1`,
      [MIGRATION_LOCK_KEY],
    );
    await query(db, "SELECT pg_terminate_backend($1)", [holder?.pid]);
    const failure = await first;
    expect(failure).toBeInstanceOf(MigrateError);
    expect(failure).toMatchObject({ kind: "lock", exitCode: 9 });
    expect((failure as MigrateError).message).toStartWith(
      "lost the database session, and the migration lock with it: migration SlowData1800000000001 failed and was rolled back",
    );
    expect((failure as MigrateError).message).toContain(
      "(applied before it (and kept): CreateEffects1800000000000)",
    );
    expect((failure as MigrateError).done.map((d) => d.name)).toEqual([
      "CreateEffects1800000000000",
    ]);
    expect((await second).applied.map((m) => m.name)).toEqual([
      "SlowData1800000000001",
      "After1800000000002",
    ]);
    await expectExactlyOnce(db);
  }, 20_000);

  test("idle_session_timeout shorter than a slow data migration: a second migrator waits, nothing applies twice", async () => {
    const db = await freshDatabase();
    await query(db, `ALTER DATABASE "${db.database}" SET idle_session_timeout = '700ms'`);
    const first = runMigrations(await dataSource(db), { lockTimeoutMs: 30_000 });
    await until(db, IN_SLEEP);
    const second = runMigrations(await dataSource(db), { lockTimeoutMs: 30_000 });
    const [a, b] = await Promise.all([first, second]);
    expect(a.applied.map((m) => m.name)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(b.applied).toEqual([]);
    await expectExactlyOnce(db);
  }, 20_000);

  test("a server restart between two migrations: the first stays applied, the run stops with exit 9, the next run finishes", async () => {
    const server = await startThrowawayServer("restart");
    try {
      const client = server.client();
      await client.connect();
      await client.query("CREATE DATABASE restart_test");
      await client.end();
      const { port, user, password } = server.options;
      const db = { host: "127.0.0.1", port, user, password, database: "restart_test" };
      // The second migration's up() waits for the test: the first is committed, the second has
      // claimed its row and sent nothing else, when the server goes away.
      let reached!: () => void;
      let proceed!: () => void;
      const atSecond = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const released = new Promise<void>((resolve) => {
        proceed = resolve;
      });
      class Paused1800000000001 extends SlowData1800000000001 {
        override name = "SlowData1800000000001";
        override async up(q: QueryRunner) {
          reached();
          await released;
          await q.query(`INSERT INTO "effects" VALUES ('slow')`);
        }
      }
      const run = runMigrations(
        await dataSource(db, [CreateEffects1800000000000, Paused1800000000001, After1800000000002]),
      ).catch((error: unknown) => error);
      await atSecond;
      await server.stop();
      await server.start();
      proceed();
      const failure = (await run) as MigrateError;
      expect(failure).toMatchObject({ kind: "lock", exitCode: 9 });
      expect(failure.message).toContain(
        "(applied before it (and kept): CreateEffects1800000000000)",
      );
      expect(await query(db, "SELECT name FROM migrations")).toEqual([
        { name: "CreateEffects1800000000000" },
      ]);
      const again = await runMigrations(await dataSource(db));
      expect(again.applied.map((m) => m.name)).toEqual([
        "SlowData1800000000001",
        "After1800000000002",
      ]);
      expect(await query(db, "SELECT note FROM effects ORDER BY note")).toEqual([
        { note: "after" },
        { note: "slow" },
      ]);
    } finally {
      await server.destroy();
    }
    // Its own server is started, stopped and started again: slow when other suites load the CPU.
  }, 90_000);
});

describe("defence in depth: a migration claims its row before up() runs", () => {
  test("a migration another session recorded meanwhile is not run again (the claim, not the lock, stops it)", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db);
    await runMigrations(ds, {});
    // Simulate a lost lock: this run read the migrations table before another session recorded
    // the migration. Here: the row is removed from the view of the run by reverting it, then a
    // "foreign" session applies it between this run's read and its claim.
    await revertMigrations(ds, 1, {});
    const foreign = new pg.Client(db);
    await foreign.connect();
    try {
      await foreign.query("BEGIN");
      await foreign.query(
        `INSERT INTO migrations_ledger (name, checksum, applied_at) VALUES ('After1800000000002', NULL, now())`,
      );
      const run = runMigrations(ds, {}).catch((error: unknown) => error);
      // The run's claim waits for the foreign transaction's row, then finds it committed.
      await until(
        db,
        `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO "migrations_ledger"%'`,
      );
      await foreign.query(`INSERT INTO effects VALUES ('after')`);
      await foreign.query(
        `INSERT INTO migrations ("timestamp", name) VALUES (1800000000002, 'After1800000000002')`,
      );
      await foreign.query("COMMIT");
      const failure = (await run) as MigrateError;
      expect(failure).toBeInstanceOf(MigrateError);
      expect(failure.kind).toBe("lock");
      expect(failure.message).toContain(
        "After1800000000002 was applied by another session while this run held the migration lock",
      );
    } finally {
      await foreign.end();
    }
    await expectExactlyOnce(db);
  });
});

test("a DataSource with an isolation level: the claim waits until TypeORM has set it", async () => {
  const db = await freshDatabase();
  const ds = new DataSource({
    ...buildDataSourceOptions({ NODE_ENV: "test" }, db),
    migrations: [CreateEffects1800000000000, After1800000000002],
    isolationLevel: "SERIALIZABLE",
  });
  await ds.initialize();
  open.push(ds);
  expect((await runMigrations(ds)).applied.map((m) => m.name)).toEqual([
    "CreateEffects1800000000000",
    "After1800000000002",
  ]);
  expect(await query(db, "SELECT count(*)::int AS n FROM migrations_ledger")).toEqual([{ n: 2 }]);
});

/** Its up() makes the bookkeeping that commits with it fail: a trigger refusing the row. */
class RefusesItsRow1800000000001 implements MigrationInterface {
  name = "RefusesItsRow1800000000001";
  async up(q: QueryRunner) {
    await q.query(`INSERT INTO "effects" VALUES ('refused')`);
    await q.query(
      `CREATE FUNCTION "refuse"() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'no row for you'; END$$`,
    );
    await q.query(
      `CREATE TRIGGER "refuse" BEFORE INSERT ON "migrations" FOR EACH ROW EXECUTE FUNCTION "refuse"()`,
    );
  }
  async down(q: QueryRunner) {
    await q.query(`DROP TRIGGER "refuse" ON "migrations"`);
    await q.query(`DROP FUNCTION "refuse"`);
    await q.query(`DELETE FROM "effects" WHERE "note" = 'refused'`);
  }
}

test("bookkeeping that fails in COMMIT's round trip: no COMMIT runs, the migration is rolled back whole", async () => {
  const db = await freshDatabase();
  const ds = await dataSource(db, [CreateEffects1800000000000, RefusesItsRow1800000000001]);
  const failed = await runMigrations(ds).catch((error: unknown) => error);
  expect(failed).toBeInstanceOf(MigrateError);
  expect((failed as MigrateError).kind).toBe("migrationFailed");
  expect((failed as MigrateError).message).toContain("no row for you");
  expect(await query(db, `SELECT count(*)::int AS n FROM "effects"`)).toEqual([{ n: 0 }]);
  expect(await query(db, `SELECT tgname FROM pg_trigger WHERE tgname = 'refuse'`)).toEqual([]);
  expect(await query(db, "SELECT name FROM migrations ORDER BY id")).toEqual([
    { name: "CreateEffects1800000000000" },
  ]);
  expect(await query(db, "SELECT name FROM migrations_ledger ORDER BY name")).toEqual([
    { name: "CreateEffects1800000000000" },
  ]);
  // The session is usable afterwards: the next migration on it applies and is recorded.
  const next = await dataSource(db, [CreateEffects1800000000000, After1800000000002]);
  expect((await runMigrations(next)).applied.map((m) => m.name)).toEqual(["After1800000000002"]);
});

/** Outside a transaction (as CREATE INDEX CONCURRENTLY needs): its effects cannot be rolled back. */
class NoTransactionData1800000000001 implements MigrationInterface {
  name = "NoTransactionData1800000000001";
  transaction = false;
  async up(q: QueryRunner) {
    await q.query(`INSERT INTO "effects" VALUES ('no transaction')`);
    await q.query("SELECT 1 / (SELECT count(*) FROM effects WHERE note = 'fixed')");
  }
  async down(q: QueryRunner) {
    await q.query(`DELETE FROM "effects" WHERE "note" = 'no transaction'`);
  }
}

describe("transaction = false, stopped half-way", () => {
  test("is recorded unfinished and never run again by itself; resolve settles it", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, [CreateEffects1800000000000, NoTransactionData1800000000001]);
    const effects = async () =>
      (await query(db, `SELECT count(*)::int AS n FROM effects WHERE note = 'no transaction'`))[0];
    const failed = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(failed).toMatchObject({ kind: "migrationFailed" });
    expect(failed.message).toContain("stopped outside a transaction (transaction = false)");
    expect(failed.message).toContain("What it did before is kept");
    expect(failed.message).not.toContain("rolled back");
    expect(await effects()).toEqual({ n: 1 });
    // Fixed, but what it did is still there: the next run refuses instead of doing it twice.
    await query(db, `INSERT INTO effects VALUES ('fixed')`);
    const refused = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(refused).toMatchObject({ kind: "migrationFailed", exitCode: 4 });
    expect(refused.message).toContain(
      "NoTransactionData1800000000001 (transaction = false) started at",
    );
    expect(refused.message).toContain("migrate:resolve --applied NoTransactionData1800000000001");
    expect(await effects()).toEqual({ n: 1 });
    const shown = (await migrationStatus(ds)).find((m) => m.name.startsWith("NoTransaction"));
    expect(shown).toMatchObject({ applied: false, unfinished: true });
    // Undone by hand and recorded as rolled back: the next run applies it, once.
    await query(db, `DELETE FROM effects WHERE note = 'no transaction'`);
    // The name it was generated with is enough when one migration has it.
    await resolveMigration(ds, { rolledBack: "NoTransactionData" });
    await runMigrations(ds);
    expect(await effects()).toEqual({ n: 1 });
    expect(await query(db, "SELECT name FROM migrations ORDER BY id")).toEqual([
      { name: "CreateEffects1800000000000" },
      { name: "NoTransactionData1800000000001" },
    ]);
    expect(
      await query(db, "SELECT count(*)::int AS n FROM migrations_ledger WHERE unfinished"),
    ).toEqual([{ n: 0 }]);
  });

  test("a revert that stops half-way is unfinished too; resolve --applied puts it back", async () => {
    const db = await freshDatabase();
    class FailingDown1800000000001 extends NoTransactionData1800000000001 {
      override async up(q: QueryRunner) {
        await q.query(`INSERT INTO "effects" VALUES ('no transaction')`);
      }
      override async down(q: QueryRunner) {
        await q.query("SELECT 1 / 0");
      }
    }
    const ds = await dataSource(db, [CreateEffects1800000000000, FailingDown1800000000001]);
    await runMigrations(ds);
    const failed = (await revertMigrations(ds, 1).catch((e: unknown) => e)) as MigrateError;
    expect(failed.message).toContain("stopped outside a transaction");
    const refused = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(refused.message).toContain("did not finish");
    await resolveMigration(ds, { applied: "NoTransactionData1800000000001" });
    expect((await runMigrations(ds)).applied).toEqual([]);
    expect(
      await query(db, "SELECT count(*)::int AS n FROM effects WHERE note = 'no transaction'"),
    ).toEqual([{ n: 1 }]);
  });
});

test("a migration without down() (the guide's data-migration template) is refused by name on revert", async () => {
  const db = await freshDatabase();
  class UpOnly1800000000001 {
    name = "UpOnly1800000000001";
    async up(q: QueryRunner) {
      await q.query(`INSERT INTO "effects" VALUES ('up only')`);
    }
  }
  const ds = await dataSource(db, [
    CreateEffects1800000000000,
    UpOnly1800000000001 as unknown as new () => MigrationInterface,
  ]);
  await runMigrations(ds);
  const failed = (await revertMigrations(ds, 2).catch((e: unknown) => e)) as MigrateError;
  expect(failed).toMatchObject({ kind: "migrationFailed", exitCode: 4 });
  expect(failed.message).toStartWith("cannot revert UpOnly1800000000001: it has no down()");
  expect(failed.message).not.toContain("is not a function");
  expect(await query(db, "SELECT count(*)::int AS n FROM migrations")).toEqual([{ n: 2 }]);
});

/** SQL pasted from a psql script: its own BEGIN … COMMIT ends the migration's transaction. */
class PsqlScript1800000000001 implements MigrationInterface {
  name = "PsqlScript1800000000001";
  async up(q: QueryRunner) {
    await q.query(`BEGIN; INSERT INTO "effects" VALUES ('psql script'); COMMIT;`);
    await q.query("SELECT 1 / (SELECT count(*) FROM effects WHERE note = 'fixed')");
  }
  async down(q: QueryRunner) {
    await q.query(`DELETE FROM "effects" WHERE "note" = 'psql script'`);
  }
}

describe("a migration that ends its transaction itself (COMMIT in its SQL)", () => {
  const scripted = async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, [CreateEffects1800000000000, PsqlScript1800000000001]);
    const effects = async () =>
      (await query(db, `SELECT count(*)::int AS n FROM effects WHERE note = 'psql script'`))[0];
    return { db, ds, effects };
  };

  test("failing after its COMMIT: not reported as rolled back, recorded unfinished, never run twice", async () => {
    const { db, ds, effects } = await scripted();
    const failed = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(failed).toMatchObject({ kind: "migrationFailed" });
    expect(failed.message).toContain("ended its transaction itself");
    expect(failed.message).toContain("recorded as unfinished");
    expect(failed.message).not.toContain("was rolled back");
    expect(await effects()).toEqual({ n: 1 });
    await query(db, `INSERT INTO effects VALUES ('fixed')`);
    const refused = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(refused.message).toContain("PsqlScript1800000000001 (ended its own transaction)");
    expect(await effects()).toEqual({ n: 1 });
    await resolveMigration(ds, { applied: "PsqlScript1800000000001" });
    expect((await runMigrations(ds)).applied).toEqual([]);
    expect(await effects()).toEqual({ n: 1 });
  });

  test("succeeding after its COMMIT: caught at COMMIT, recorded unfinished rather than applied", async () => {
    const db = await freshDatabase();
    await query(
      db,
      `CREATE TABLE effects (note text NOT NULL); INSERT INTO effects VALUES ('fixed')`,
    );
    class CreateIfMissing1800000000000 extends CreateEffects1800000000000 {
      override async up(q: QueryRunner) {
        await q.query(`CREATE TABLE IF NOT EXISTS "effects" ("note" text NOT NULL)`);
      }
    }
    const ds = await dataSource(db, [CreateIfMissing1800000000000, PsqlScript1800000000001]);
    const failed = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(failed).toMatchObject({ kind: "migrationFailed" });
    expect(failed.message).toContain("ended its transaction itself");
    expect(
      await query(db, `SELECT count(*)::int AS n FROM effects WHERE note = 'psql script'`),
    ).toEqual([{ n: 1 }]);
    const shown = (await migrationStatus(ds)).find((m) => m.name.startsWith("PsqlScript"));
    expect(shown).toMatchObject({ applied: false, unfinished: true });
  });

  test("in a dry run: reported, not claimed as 'nothing was applied'", async () => {
    const { ds, effects } = await scripted();
    const failed = (await runMigrations(ds, { dryRun: true }).catch(
      (e: unknown) => e,
    )) as MigrateError;
    expect(failed).toBeInstanceOf(MigrateError);
    expect(failed.message).toContain("ended its transaction itself");
    expect(await effects()).toEqual({ n: 1 });
    const refused = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(refused.message).toContain("did not finish");
    expect(await effects()).toEqual({ n: 1 });
  });

  test("ROLLBACK in its SQL: what ran after it is kept, so it is unfinished, not run again", async () => {
    const db = await freshDatabase();
    class RollsBack1800000000001 extends PsqlScript1800000000001 {
      override async up(q: QueryRunner) {
        await q.query(`INSERT INTO "effects" VALUES ('before'); ROLLBACK;`);
        await q.query(`INSERT INTO "effects" VALUES ('after rollback')`);
      }
    }
    const ds = await dataSource(db, [CreateEffects1800000000000, RollsBack1800000000001]);
    const failed = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(failed.message).toContain("ended its transaction itself");
    expect(await query(db, "SELECT note FROM effects ORDER BY note")).toEqual([
      { note: "after rollback" },
    ]);
    const refused = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(refused.message).toContain("did not finish");
    expect(await query(db, "SELECT count(*)::int AS n FROM effects")).toEqual([{ n: 1 }]);
    // The pooled connection is usable: nothing was left aborted or holding the lock.
    expect((await migrationStatus(ds)).find((m) => m.name.startsWith("PsqlScript"))).toMatchObject({
      unfinished: true,
    });
  });

  test("in a dry run after another migration: says the earlier one was committed, not rolled back", async () => {
    const db = await freshDatabase();
    const ds = await dataSource(db, [CreateEffects1800000000000, PsqlScript1800000000001]);
    const failed = (await runMigrations(ds, { dryRun: true }).catch(
      (e: unknown) => e,
    )) as MigrateError;
    expect(failed.message).toContain(
      "a dry run, but its own COMMIT or ROLLBACK ended the transaction",
    );
    expect(failed.message).toContain("CreateEffects1800000000000");
    expect(failed.message).not.toContain("rolled back too");
    expect(await query(db, "SELECT name FROM migrations")).toEqual([
      { name: "CreateEffects1800000000000" },
    ]);
  });

  test("a revert whose down() commits itself and then fails is unfinished, not 'rolled back'", async () => {
    const db = await freshDatabase();
    class CommitsInDown1800000000001 extends PsqlScript1800000000001 {
      override async up(q: QueryRunner) {
        await q.query(`INSERT INTO "effects" VALUES ('psql script')`);
      }
      override async down(q: QueryRunner) {
        await q.query(`BEGIN; DELETE FROM "effects" WHERE "note" = 'psql script'; COMMIT;`);
        await q.query("SELECT 1 / 0");
      }
    }
    const ds = await dataSource(db, [CreateEffects1800000000000, CommitsInDown1800000000001]);
    await runMigrations(ds);
    const failed = (await revertMigrations(ds, 1).catch((e: unknown) => e)) as MigrateError;
    expect(failed.message).toContain("ended its transaction itself");
    const refused = (await runMigrations(ds).catch((e: unknown) => e)) as MigrateError;
    expect(refused.message).toContain("did not finish");
  });
});
