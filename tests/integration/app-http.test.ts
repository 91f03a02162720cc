import { afterEach, describe, expect, test } from "bun:test";
import { AuditDatabase } from "../../src/app/audit-database.ts";
import { checkHealth } from "../../src/app/health.ts";
import { startHttpServer } from "../../src/app/http.ts";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import { migrations } from "../../src/db/migrations.ts";
import { migratedDatabase, query } from "../support/database.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** The service on a free port with `db` as its audit database, and a GET helper. */
async function serve(db: ConnectionSettings, projects: string[] = ["shop", "blog"]) {
  const audit = new AuditDatabase(buildDataSourceOptions({ NODE_ENV: "test" }, db));
  const server = startHttpServer({
    port: 0,
    hostname: "127.0.0.1",
    health: () => checkHealth(() => audit.dataSource()),
    auditLog: () => audit.auditLog(),
    projects,
    secrets: [db.password],
  });
  cleanup.push(
    () => audit.close(),
    () => server.stop(true),
  );
  const get = async (path: string) => {
    const response = await fetch(new URL(path, server.url));
    const text = await response.text();
    expect(response.headers.get("content-type")).toContain("application/json");
    return { status: response.status, text, body: JSON.parse(text) };
  };
  return { get, audit, url: server.url };
}

describe("GET /health", () => {
  test("200 when the database answers and every migration is applied", async () => {
    const { get } = await serve(await migratedDatabase());
    expect(await get("/health")).toMatchObject({
      status: 200,
      body: {
        status: "ok",
        checks: { database: { ok: true }, migrations: { ok: true, pending: [] } },
      },
    });
  });

  test("503 naming the pending migrations when the database is behind this build", async () => {
    const { get } = await serve(await migratedDatabase(2));
    expect(await get("/health")).toMatchObject({
      status: 503,
      body: {
        status: "unhealthy",
        checks: {
          database: { ok: true },
          migrations: { ok: false, pending: migrations.slice(2).map((m) => m.name) },
        },
      },
    });
  });

  test("503 without the password when the database is unreachable, 200 once it answers", async () => {
    const db = await migratedDatabase();
    const admin = { ...db, database: "postgres" };
    await query(admin, `ALTER DATABASE "${db.database}" ALLOW_CONNECTIONS false`);
    const { get } = await serve(db);
    const down = await get("/health");
    expect(down).toMatchObject({
      status: 503,
      body: {
        status: "unhealthy",
        checks: { database: { ok: false }, migrations: { ok: false, pending: [] } },
      },
    });
    expect(down.body.checks.database.error).toContain(`cannot connect to postgres://${db.user}@`);
    expect(down.text).not.toContain(db.password);
    expect((await get("/status")).status).toBe(503);

    await query(admin, `ALTER DATABASE "${db.database}" ALLOW_CONNECTIONS true`);
    expect((await get("/health")).status).toBe(200);
  });

  test("never runs migrations itself", async () => {
    const db = await migratedDatabase(2);
    const { get } = await serve(db);
    await get("/health");
    await get("/health");
    const applied = await query(db, "SELECT count(*)::int AS count FROM migrations");
    expect(applied).toEqual([{ count: 2 }]);
  });
});

describe("GET /status", () => {
  test("the last run of every configured project, null for one never run", async () => {
    const db = await migratedDatabase();
    const { get, audit } = await serve(db);
    const repository = await audit.auditLog();
    const older = await repository.startRun({
      projectName: "shop",
      startedAt: new Date("2025-03-01T02:00:00Z"),
    });
    await repository.finishRun(older.id, {
      status: "failed",
      errorStage: "dump",
      errorMessage: "exit code 1: boom",
    });
    const newer = await repository.startRun({
      projectName: "shop",
      startedAt: new Date("2025-03-02T02:00:00Z"),
    });
    await repository.finishRun(newer.id, {
      status: "success",
      completedAt: new Date("2025-03-02T02:00:05Z"),
      dumpSizeBytes: 1234,
      verified: true,
    });

    const { status, body } = await get("/status");
    expect(status).toBe(200);
    expect(body).toEqual({
      projects: [
        {
          project: "shop",
          lastRun: {
            id: newer.id,
            project: "shop",
            status: "success",
            stage: null,
            startedAt: "2025-03-02T02:00:00.000Z",
            completedAt: "2025-03-02T02:00:05.000Z",
            durationMs: 5000,
            dumpSizeBytes: 1234,
            verified: true,
            retryCount: 0,
            errorStage: null,
            errorMessage: null,
          },
        },
        { project: "blog", lastRun: null },
      ],
    });
  });

  test("/status/:project: newest first, ?last=N capped at 100, a bad N is 400", async () => {
    const db = await migratedDatabase();
    await query(
      db,
      `INSERT INTO backup_log (id, project_name, status, started_at)
       SELECT gen_random_uuid(), 'shop', 'success', timestamptz '2025-01-01' + n * interval '1 hour'
       FROM generate_series(1, 105) AS n`,
    );
    const { get } = await serve(db);

    const byDefault = await get("/status/shop");
    expect(byDefault.status).toBe(200);
    expect(byDefault.body.project).toBe("shop");
    expect(byDefault.body.runs).toHaveLength(10);
    expect(byDefault.body.runs[0].startedAt).toBe("2025-01-05T09:00:00.000Z"); // hour 105

    expect((await get("/status/shop?last=3")).body.runs).toHaveLength(3);
    expect((await get("/status/shop?last=100")).body.runs).toHaveLength(100);
    expect((await get("/status/shop?last=5000")).body.runs).toHaveLength(100);
    for (const bad of ["0", "-1", "abc", "2.5", ""]) {
      const response = await get(`/status/shop?last=${bad}`);
      expect(response.status).toBe(400);
      expect(response.body.error).toStartWith("last must be a whole number ≥ 1");
    }
  });

  test("a configured project without runs is an empty list; an unknown one is 404", async () => {
    const { get } = await serve(await migratedDatabase());
    expect(await get("/status/blog")).toMatchObject({
      status: 200,
      body: { project: "blog", runs: [] },
    });
    expect(await get("/status/nope")).toMatchObject({
      status: 404,
      body: { error: 'unknown project "nope"' },
    });
    expect((await get("/status/..%2Fetc")).status).toBe(404);
  });
});

test("unknown routes are 404 JSON", async () => {
  const { get } = await serve(await migratedDatabase());
  expect(await get("/metrics")).toMatchObject({
    status: 404,
    body: { error: "no route for GET /metrics" },
  });
  expect((await get("/status/shop/extra")).status).toBe(404);
});

test("other methods than GET are 404 JSON too", async () => {
  const { url } = await serve(await migratedDatabase());
  const response = await fetch(new URL("/health", url), { method: "POST" });
  expect(response.status).toBe(404);
  expect(await response.json()).toEqual({ error: "no route for POST /health" });
});

test("HEAD on a GET endpoint answers as GET does, without a body (normal HTTP)", async () => {
  const db = await migratedDatabase();
  const { url } = await serve(db);
  const head = (path: string) => fetch(new URL(path, url), { method: "HEAD" });
  const health = await head("/health");
  expect(health.status).toBe(200);
  expect(health.headers.get("content-type")).toContain("application/json");
  expect(await health.text()).toBe("");
  expect((await head("/status/nope")).status).toBe(404);
  expect((await head("/metrics")).status).toBe(404);

  // The same check as GET: an unhealthy service is 503 to HEAD too.
  await query(
    { ...db, database: "postgres" },
    `ALTER DATABASE "${db.database}" ALLOW_CONNECTIONS false`,
  );
  await query(
    { ...db, database: "postgres" },
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    [db.database],
  );
  expect((await head("/health")).status).toBe(503);
});
