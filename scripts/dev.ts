#!/usr/bin/env bun
/**
 * `bun run dev <command>`: the development migration workflow. Commands live in scripts/dev/;
 * this file is only their registry. Each is loaded when it runs, so a command pays only for
 * what it uses (TypeORM alone takes a quarter of a second to load).
 */
import { defineCommand } from "citty";
import { runCli } from "../src/cli/run-cli.ts";

const database = () => import("./dev/database.ts");
const apply = () => import("./dev/apply.ts");
const migrate = () => import("./dev/migrate.ts");
const check = () => import("./dev/check.ts");
const files = () => import("./dev/files.ts");

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
    "migrate:run": () => apply().then((m) => m.migrateRun),
    "migrate:show": () => apply().then((m) => m.migrateShow),
    "migrate:revert": () => apply().then((m) => m.migrateRevert),
    "migrate:generate": () => migrate().then((m) => m.migrateGenerate),
    "migrate:create": () => files().then((m) => m.migrateCreate),
    "migrate:resolve": () => apply().then((m) => m.migrateResolve),
    "migrate:check": () => check().then((m) => m.migrateCheck),
    "migrate:lint": () => check().then((m) => m.migrateLint),
    "migrate:verify": () => check().then((m) => m.migrateVerify),
    "migrate:registry": () => files().then((m) => m.migrateRegistry),
  },
});

await runCli(main);
