import { createReadStream, createWriteStream, existsSync, statSync } from "node:fs";
import { chmod, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, join, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { ManageError } from "../../../src/cli/errors.ts";
import { formatBytes } from "../../../src/cli/format-bytes.ts";
import { out } from "../../../src/cli/output.ts";
import { composeArgs } from "./compose.ts";
import { defaultRoot, type ManageContext, SERVICES } from "./context.ts";
import { errorSummary, type ManageShell, shellQuote } from "./shell.ts";

/**
 * Backups of the audit database: `pg_dump` inside the database container (its own client, the
 * server's major version, and local trust authentication, so no password is ever passed), plain
 * SQL, gzip-compressed on this host into backups/audit-<UTC timestamp>.sql.gz (mode 600).
 *
 * Plain SQL rather than pg_dump's custom format, because:
 * - the file can be checked on this host with no PostgreSQL tools: gzip's checksum, and the
 *   "PostgreSQL database dump complete" line pg_dump writes last, so a cut-off dump is refused;
 * - a restore is one psql transaction that first drops the whole `public` schema, so objects a
 *   half-applied migration left behind go too, and a failed restore changes nothing;
 * - psql of any later PostgreSQL version reads it (the way a major upgrade is done);
 * - the audit database is small: custom format's parallel and selective restore don't matter.
 */

const END_MARKER = "-- PostgreSQL database dump complete";

export interface Backup {
  path: string;
  bytes: number;
}

/** `audit-20250102T030405Z`: sorts by time, and says the time is UTC. */
export function backupStamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

export function displayPath(ctx: ManageContext, path: string): string {
  const rel = relative(ctx.root, path);
  return rel && !rel.startsWith("..") ? rel : path;
}

export async function backupDatabase(
  exec: ManageShell,
  ctx: ManageContext,
  { label = "" }: { label?: string } = {},
): Promise<Backup> {
  const stamp = backupStamp();
  let path = join(ctx.backupsDir, `audit-${stamp}${label}.sql.gz`);
  for (let n = 2; existsSync(path); n++) {
    path = join(ctx.backupsDir, `audit-${stamp}${label}-${n}.sql.gz`);
  }
  const raw = join(ctx.backupsDir, `.${basename(path, ".gz")}.partial`);
  if (!exec.dryRun) await mkdir(ctx.backupsDir, { recursive: true, mode: 0o750 });
  const dump = await exec.exec(
    "docker",
    composeArgs(
      ctx,
      ...["exec", "-T", SERVICES.db, "pg_dump", "-U", ctx.db.user, "-d", ctx.db.name, "--no-owner"],
    ),
    { stdoutFile: raw },
  );
  exec.note(
    `checked for pg_dump's end marker, gzip-compressed to ${path} (mode 600), ${raw} removed`,
  );
  if (exec.dryRun) return { path, bytes: 0 };
  try {
    if (dump.exitCode !== 0) {
      throw new ManageError(
        "dumpFailed",
        `pg_dump in ${SERVICES.db} failed (exit ${dump.exitCode}): ${errorSummary(dump.stderr)}`,
      );
    }
    if (!(await endsWithMarker(raw))) {
      throw new ManageError(
        "dumpFailed",
        "pg_dump's output is incomplete (it lacks the end-of-dump line): no backup was kept",
      );
    }
    const partial = `${path}.partial`;
    await pipeline(
      createReadStream(raw),
      createGzip(),
      createWriteStream(partial, { mode: 0o600 }),
    );
    await chmod(partial, 0o600);
    await rename(partial, path);
  } finally {
    await rm(raw, { force: true });
    await rm(`${path}.partial`, { force: true });
  }
  const bytes = statSync(path).size;
  out.success(`Backed up the audit database to ${displayPath(ctx, path)} (${formatBytes(bytes)})`);
  return { path, bytes };
}

/**
 * A backup taken right before the migrator runs (deploy, upgrade): when it fails, nothing is
 * migrated (exit 34).
 */
export async function backupBeforeMigrating(
  exec: ManageShell,
  ctx: ManageContext,
): Promise<Backup> {
  try {
    return await backupDatabase(exec, ctx);
  } catch (error) {
    if (!(error instanceof ManageError)) throw error;
    throw new ManageError("dumpFailed", `${error.message}; nothing was migrated`);
  }
}

/** Any table in the audit database's `public` schema: it is not new, there is something to lose. */
const HAS_TABLES_SQL = "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public')";

/**
 * Whether the audit database already holds data (a redeploy rather than a first deploy), asked
 * through psql in its container. When that cannot be told, deploy stops (exit 34) rather than
 * migrate without a backup.
 */
export async function auditDatabaseHasData(
  exec: ManageShell,
  ctx: ManageContext,
): Promise<boolean> {
  const result = await exec.exec(
    "docker",
    composeArgs(
      ctx,
      ...["exec", "-T", SERVICES.db, "psql", "-X", "-q", "-t", "-A"],
      ...["-U", ctx.db.user, "-d", ctx.db.name, "-c", HAS_TABLES_SQL],
    ),
    { kind: "query", placeholder: "t" },
  );
  if (result.exitCode !== 0) {
    throw new ManageError(
      "dumpFailed",
      `cannot tell whether the audit database already holds data, so it cannot be backed up first (psql exit ${result.exitCode}: ${errorSummary(result.stderr || result.stdout)}); nothing was migrated`,
    );
  }
  return result.stdout.trim() === "t";
}

/** Whether the last kilobytes of a plain dump hold pg_dump's end marker. */
async function endsWithMarker(file: string): Promise<boolean> {
  const size = statSync(file).size;
  if (size === 0) return false;
  const handle = await open(file, "r");
  try {
    const length = Math.min(size, 4096);
    const { buffer } = await handle.read(Buffer.alloc(length), 0, length, size - length);
    return buffer.toString("utf8").includes(END_MARKER);
  } finally {
    await handle.close();
  }
}

/** Reads a whole (possibly gzip'd) dump to check it is complete; returns whether it is gzip'd. */
export async function verifyDumpFile(file: string): Promise<{ gzip: boolean }> {
  const head = Buffer.alloc(2);
  const handle = await open(file, "r");
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  let tail = "";
  try {
    const stream = gzip ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
    for await (const chunk of stream) tail = (tail + chunk.toString("utf8")).slice(-4096);
  } catch (error) {
    throw new ManageError(
      "restoreFailed",
      `${file} is damaged (${(error as Error).message}): nothing was restored`,
    );
  }
  if (!tail.includes(END_MARKER)) {
    throw new ManageError(
      "restoreFailed",
      `${file} is not a complete pg_dump file (the end-of-dump line is missing): nothing was restored`,
    );
  }
  return { gzip };
}

/**
 * Replaces the audit database's `public` schema with the dump, in one transaction: psql drops
 * the schema (with whatever a half-applied migration left in it), recreates it and runs the dump;
 * any error rolls all of it back. The dump is decompressed on this host and sent on stdin.
 */
export async function restoreDatabase(
  exec: ManageShell,
  ctx: ManageContext,
  file: string,
  { gzip }: { gzip: boolean },
): Promise<void> {
  const result = await exec.exec(
    "docker",
    composeArgs(
      ctx,
      ...["exec", "-T", SERVICES.db, "psql", "-X", "-q", "-U", ctx.db.user, "-d", ctx.db.name],
      ...["-v", "ON_ERROR_STOP=1", "--single-transaction"],
      ...["-c", "SET client_min_messages = warning"],
      ...["-c", "DROP SCHEMA public CASCADE", "-c", "CREATE SCHEMA public"],
      // What a new database's public schema allows (PostgreSQL 15+); the dump sets the rest.
      ...["-c", "GRANT USAGE ON SCHEMA public TO PUBLIC", "-f", "-"],
    ),
    { stdinFile: { path: file, gunzip: gzip } },
  );
  if (exec.dryRun) return;
  if (result.exitCode !== 0) {
    throw new ManageError(
      "restoreFailed",
      `psql in ${SERVICES.db} failed (exit ${result.exitCode}): ${errorSummary(result.stderr)}; the restore ran as one transaction, so the database is unchanged`,
    );
  }
}

/** The newest backups first. */
export async function listBackups(ctx: ManageContext): Promise<Backup[]> {
  if (!existsSync(ctx.backupsDir)) return [];
  const names = (await readdir(ctx.backupsDir)).filter((n) => /^audit-.*\.sql(\.gz)?$/.test(n));
  return names
    .sort()
    .reverse()
    .map((name) => {
      const path = resolve(ctx.backupsDir, name);
      return { path, bytes: statSync(path).size };
    });
}

/** The exact command that restores a backup, runnable from any folder. */
export function restoreCommand(ctx: ManageContext, backup: string): string {
  const manage = process.argv[1] ? resolve(process.argv[1]) : join(ctx.root, "manage");
  const dir = ctx.root === defaultRoot() ? "" : ` --dir ${shellQuote(ctx.root)}`;
  return `${shellQuote(manage)} restore-db ${shellQuote(resolve(backup))}${dir}`;
}
