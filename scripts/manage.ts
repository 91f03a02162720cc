#!/usr/bin/env bun
/**
 * `./manage <command>`: backupctl on a server (docker compose). Commands live in scripts/manage/;
 * this file is only their registry.
 */
import { defineCommand } from "citty";
import { runCli } from "../src/cli/run-cli.ts";
import { check } from "./manage/check.ts";
import { backupDb, restoreDb } from "./manage/database.ts";
import { deploy } from "./manage/deploy.ts";
import { logs, shell } from "./manage/logs.ts";
import { migrate } from "./manage/migrate.ts";
import { rollback } from "./manage/rollback.ts";
import { setup } from "./manage/setup.ts";
import { status } from "./manage/status.ts";
import { upgrade } from "./manage/upgrade.ts";

const main = defineCommand({
  meta: {
    name: "./manage",
    description: "backupctl on a server: setup, check, deploy, upgrade, and the audit database",
  },
  subCommands: {
    setup,
    check,
    deploy,
    upgrade,
    rollback,
    migrate,
    status,
    logs,
    "backup-db": backupDb,
    "restore-db": restoreDb,
    shell,
  },
});

await runCli(main, withAliases(globalDirFirst(process.argv.slice(2))));

/** `update` is another name for `upgrade` (the name the old bash script used). */
function withAliases(args: string[]): string[] {
  const at = args.findIndex((arg) => !arg.startsWith("-"));
  return at >= 0 && args[at] === "update" ? args.with(at, "upgrade") : args;
}

/**
 * `--dir X` belongs to every command; typed before the command (`./manage --dir /srv/x deploy`)
 * it is moved after it, where the command's own arguments are parsed.
 */
function globalDirFirst(args: string[]): string[] {
  const [first, second] = args;
  if (first === "--dir" && second !== undefined) return [...args.slice(2), "--dir", second];
  if (first?.startsWith("--dir=")) return [...args.slice(1), first];
  return args;
}
