import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { confirm } from "../../src/cli/args.ts";
import { ManageError } from "../../src/cli/errors.ts";
import { out } from "../../src/cli/output.ts";
import { dirArg, yesArg } from "./lib/args.ts";
import { backupDatabase, displayPath, restoreDatabase, verifyDumpFile } from "./lib/backup.ts";
import { requireDocker } from "./lib/compose.ts";
import { loadContext, SERVICES } from "./lib/context.ts";
import { ManageShell } from "./lib/shell.ts";

export const backupDb = defineCommand({
  meta: {
    name: "backup-db",
    description:
      "Dump the audit database (pg_dump in its container) to backups/audit-<UTC time>.sql.gz; prints the path",
  },
  args: { ...dirArg },
  run: async ({ args }) => {
    const ctx = await loadContext(args.dir);
    const exec = new ManageShell(ctx.root, false);
    await requireDocker(exec);
    const backup = await backupDatabase(exec, ctx);
    out.data(backup.path);
  },
});

export const restoreDb = defineCommand({
  meta: {
    name: "restore-db",
    description:
      "Replace the audit database with a backup, in one transaction (asks first; --yes off a terminal); backs up the current one first",
  },
  args: {
    file: { type: "positional", required: true, description: "a backup (.sql.gz or .sql)" },
    ...yesArg,
    backup: {
      type: "boolean",
      default: true,
      description: "back up the current database first (--no-backup skips it)",
    },
    ...dirArg,
  },
  run: async ({ args }) => {
    const ctx = await loadContext(args.dir);
    const file = resolve(args.file);
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new ManageError("usage", `no such backup file: ${args.file}; nothing was changed`);
    }
    const { gzip } = await verifyDumpFile(file);
    const exec = new ManageShell(ctx.root, false);
    await requireDocker(exec);
    await confirm(
      `This replaces everything in the audit database "${ctx.db.name}" (${SERVICES.db}) with ${displayPath(ctx, file)}.`,
      Boolean(args.yes),
    );
    if (args.backup) await backupDatabase(exec, ctx, { label: "-before-restore" });
    await restoreDatabase(exec, ctx, file, { gzip });
    out.success(
      `Restored the audit database from ${displayPath(ctx, file)}. ./manage migrate show compares it with this version's migrations.`,
    );
  },
});
