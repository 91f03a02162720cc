#!/usr/bin/env bun
/**
 * `bun run dev <command>`: the development migration workflow. Commands live in scripts/dev/;
 * this file is only their registry.
 */
import { defineCommand } from "citty";
import { runCli } from "../src/cli/run-cli.ts";
import { migrateCheck, migrateLint, migrateVerify } from "./dev/check.ts";
import { down, logs, psql, reset, status, up } from "./dev/database.ts";
import {
  migrateCreate,
  migrateGenerate,
  migrateRegistry,
  migrateResolve,
  migrateRevert,
  migrateRun,
  migrateShow,
} from "./dev/migrate.ts";

const main = defineCommand({
  meta: {
    name: "bun run dev",
    description: "backupctl audit database: dev database and schema-driven TypeORM migrations",
  },
  subCommands: {
    up,
    down,
    reset,
    status,
    psql,
    logs,
    "migrate:run": migrateRun,
    "migrate:show": migrateShow,
    "migrate:revert": migrateRevert,
    "migrate:generate": migrateGenerate,
    "migrate:create": migrateCreate,
    "migrate:resolve": migrateResolve,
    "migrate:check": migrateCheck,
    "migrate:lint": migrateLint,
    "migrate:verify": migrateVerify,
    "migrate:registry": migrateRegistry,
  },
});

await runCli(main);
