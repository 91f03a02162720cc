#!/usr/bin/env bun
/**
 * `bun run dev <command>`: the development migration workflow. Commands live in scripts/dev/;
 * this file is only their registry. Each is loaded when it runs, so a command pays only for
 * what it uses (TypeORM alone takes a quarter of a second to load).
 */
import { defineCommand } from "citty";
import { MIGRATION_COMMAND_NAMES } from "../src/cli/migration-commands.ts";
import { runCli } from "../src/cli/run-cli.ts";

const database = () => import("./dev/database.ts");
const apply = () => import("./dev/apply.ts");
const migrate = () => import("./dev/migrate.ts");
const check = () => import("./dev/check.ts");
const files = () => import("./dev/files.ts");

/** run, show, revert, resolve …: every shared migration command (src/cli/migration-commands.ts). */
const sharedMigrate = Object.fromEntries(
  MIGRATION_COMMAND_NAMES.map((name) => {
    const full = `migrate:${name}`;
    return [full, () => apply().then((m) => m.shared[name])];
  }),
);

const main = defineCommand({
  meta: {
    name: "bun run dev",
    description: "backupctl audit database: dev database and schema-driven TypeORM migrations",
  },
  subCommands: {
    up: () => database().then((m) => m.up),
    down: () => database().then((m) => m.down),
    reset: () => database().then((m) => m.reset),
    status: () => database().then((m) => m.status),
    psql: () => database().then((m) => m.psql),
    logs: () => database().then((m) => m.logs),
    ...sharedMigrate,
    "migrate:generate": () => migrate().then((m) => m.migrateGenerate),
    "migrate:create": () => files().then((m) => m.migrateCreate),
    "migrate:check": () => check().then((m) => m.migrateCheck),
    "migrate:lint": () => check().then((m) => m.migrateLint),
    "migrate:verify": () => check().then((m) => m.migrateVerify),
    "migrate:registry": () => files().then((m) => m.migrateRegistry),
  },
});

await runCli(main);
