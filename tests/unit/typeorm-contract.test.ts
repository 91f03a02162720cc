import { expect, test } from "bun:test";
import pg from "pg";
import { DataSource, type QueryRunner } from "typeorm";
import { RdbmsSchemaBuilder } from "typeorm/schema-builder/RdbmsSchemaBuilder.js";

/**
 * What src/migrate/executor.ts relies on in TypeORM beyond its typed API. Each test names the
 * code that breaks when TypeORM changes it: fix that code before upgrading TypeORM.
 * (createMigrationsTableIfNotExist is reached by a subclass: tsc checks that one.)
 */

function runnerRecordingQueries(): { runner: QueryRunner; sent: string[] } {
  // Never initialized: nothing connects, every statement is recorded instead of sent.
  const dataSource = new DataSource({ type: "postgres", driver: pg, host: "127.0.0.1", port: 1 });
  const runner = dataSource.createQueryRunner();
  const sent: string[] = [];
  runner.query = (async (sql: string) => {
    sent.push(sql);
    return [];
  }) as QueryRunner["query"];
  return { runner, sent };
}

test("begin(): startTransaction sends exactly START TRANSACTION through runner.query", async () => {
  const { runner, sent } = runnerRecordingQueries();
  await runner.startTransaction();
  expect(sent).toEqual(["START TRANSACTION"]);
});

test("guarded(): the runner's helpers send their SQL through runner.query, which can be replaced", async () => {
  const { runner, sent } = runnerRecordingQueries();
  await runner.createSchema("audit", true);
  expect(sent).toEqual(['CREATE SCHEMA IF NOT EXISTS "audit"']);
});

test("forgetLoadedTables(): the runner caches tables in loadedTables and cachedTablePaths", () => {
  const { runner } = runnerRecordingQueries();
  const cache = runner as unknown as Record<string, unknown>;
  expect(Array.isArray(cache.loadedTables)).toBe(true);
  expect(typeof cache.cachedTablePaths).toBe("object");
  expect(cache.cachedTablePaths).not.toBeNull();
});

test("ensureMetadataTable(): PostgreSQL's schema builder is an RdbmsSchemaBuilder", () => {
  const dataSource = new DataSource({ type: "postgres", driver: pg, host: "127.0.0.1", port: 1 });
  expect(dataSource.driver.createSchemaBuilder()).toBeInstanceOf(RdbmsSchemaBuilder);
});
