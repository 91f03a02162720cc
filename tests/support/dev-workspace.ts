import { expect } from "bun:test";
import { join } from "node:path";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { migrations } from "../../src/db/migrations.ts";
import { databaseEnv, freshDatabase, query } from "./database.ts";
import { dev, projectCopy } from "./project.ts";

// What the tests of `bun run dev`'s migration commands share: tests/e2e/dev-migrate,
// dev-generate and dev-generate-patterns, one file once, split so that workers run them in parallel.

/** A project copy whose dev CLI talks to its own fresh database on the test server. */
export async function workspace() {
  const [cwd, db] = await Promise.all([projectCopy(), freshDatabase()]);
  const env = { ...databaseEnv(db), BACKUPCTL_DEV_DB: "external" };
  return { cwd, db, cli: (...args: string[]) => dev(cwd, args, env) };
}

const RECORD = "src/domain/audit/backup-log.record.ts";

export async function editRecord(cwd: string, edit: (source: string) => string) {
  const path = join(cwd, RECORD);
  const before = await Bun.file(path).text();
  const after = edit(before);
  expect(after).not.toBe(before);
  await Bun.write(path, after);
}

/** Adds a property just before created_at, the last column. */
export const addProperty = (property: string) => (source: string) =>
  source.replace(
    '  @CreateDateColumn({ name: "created_at"',
    `${property}\n\n  @CreateDateColumn({ name: "created_at"`,
  );

/** Fills a migrate:create template the way a developer does. */
export async function fillMigration(path: string, up: string, down: string) {
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

export async function columnType(db: ConnectionSettings, column: string) {
  const rows = await query(
    db,
    "SELECT data_type FROM information_schema.columns WHERE table_name = 'backup_log' AND column_name = $1",
    [column],
  );
  return rows[0]?.data_type ?? null;
}

export const allNames = migrations.map((m) => m.name);
