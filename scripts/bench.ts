#!/usr/bin/env bun
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { cp, mkdir, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
/**
 * `bun run bench`: measures the toolkit side by side with what users would otherwise run, in one
 * run, on one throwaway PostgreSQL, and writes BENCHMARKS.md and docs/benchmarks.svg.
 *
 * Every contender is checked for the right answer before it is timed; a wrong answer aborts.
 */
import { defineCommand } from "citty";
import pg from "pg";
import pkg from "../package.json" with { type: "json" };
import { out } from "../src/cli/output.ts";
import { runCli } from "../src/cli/run-cli.ts";
import { type ConnectionSettings, connectionUrl } from "../src/config/connection.ts";
import { PROJECT_ROOT } from "../src/db/paths.ts";
import { type EmbeddedServer, embeddedBinDir } from "../src/devdb/embedded-server.ts";
import { startThrowawayServer } from "../src/devdb/throwaway.ts";
import { MigrateError } from "../src/migrate/errors.ts";
import { writeRegistry } from "../src/migrate/registry.ts";

interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
  exitCode: number;
  maxRssKiB: number;
  /** User and system CPU of the process and the children it waited for. */
  cpuMs: number;
}

interface Contender {
  label: string;
  cmd: string[];
  cwd: string;
  env: Record<string, string>;
}

interface Row {
  label: string;
  runs: number[];
}

const BASE_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };

async function timeOnce(c: Contender): Promise<Timed> {
  const started = performance.now();
  const proc = Bun.spawn(c.cmd, {
    cwd: c.cwd,
    env: { ...BASE_ENV, ...c.env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const ms = performance.now() - started;
  return {
    ms,
    stdout,
    stderr,
    exitCode,
    maxRssKiB: Math.round(Number(proc.resourceUsage()?.maxRSS ?? 0) / 1024),
    cpuMs: cpuMs(proc.resourceUsage()),
  };
}

function cpuMs(usage: ReturnType<Bun.Subprocess["resourceUsage"]>): number {
  if (!usage) return Number.NaN;
  return (Number(usage.cpuTime.user) + Number(usage.cpuTime.system)) / 1000;
}

function mustSucceed(label: string, result: Timed, check: (r: Timed) => boolean): void {
  if (result.exitCode !== 0 || !check(result)) {
    throw new MigrateError(
      "internal",
      `${label} gave a wrong answer (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const min = (xs: number[]) => Math.min(...xs);

/** A database on the bench server; `template` copies an already-migrated one. */
async function createDatabase(
  server: EmbeddedServer,
  name: string,
  template?: string,
): Promise<ConnectionSettings> {
  const client = server.client();
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(
      `CREATE DATABASE ${client.escapeIdentifier(name)}${template ? ` TEMPLATE ${client.escapeIdentifier(template)}` : ""}`,
    );
  } finally {
    await client.end();
  }
  const { port, user, password } = server.options;
  return { host: "127.0.0.1", port, user, password, database: name };
}

async function countApplied(db: ConnectionSettings): Promise<number> {
  const client = new pg.Client(db);
  await client.connect();
  try {
    return Number((await client.query("SELECT count(*) AS n FROM migrations")).rows[0].n);
  } finally {
    await client.end();
  }
}

/** N add-column migrations in the project's own format, as migrate:create would name them. */
function addColumnMigrations(count: number): {
  fileName: string;
  source: string;
  sql: string;
  name: string;
  timestamp: number;
  column: string;
}[] {
  const first = 1800000000000;
  return Array.from({ length: count }, (_, i) => {
    const timestamp = first + i;
    const name = `AddBenchColumn${i + 1}${timestamp}`;
    const sql = `ALTER TABLE "backup_log" ADD "bench_column_${i + 1}" integer`;
    const source = `import type { MigrationInterface, QueryRunner } from "typeorm";

export class ${name} implements MigrationInterface {
  name = "${name}";

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(\`${sql}\`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(\`ALTER TABLE "backup_log" DROP COLUMN "bench_column_${i + 1}"\`);
  }
}
`;
    const column = `bench_column_${i + 1}`;
    return {
      fileName: `${timestamp}-AddBenchColumn${i + 1}.ts`,
      source,
      sql,
      name,
      timestamp,
      column,
    };
  });
}

/**
 * A scratch copy of the project (node_modules linked) with `extra` migrations added and the
 * registry rewritten; with `inRecord`, the record gets their columns too, so the copy's record
 * and migrations agree (migrate:check).
 */
async function projectWith(
  dir: string,
  extra: { fileName: string; source: string; column: string }[],
  inRecord = false,
): Promise<string> {
  for (const entry of [
    "package.json",
    "bunfig.toml",
    "tsconfig.json",
    "scripts",
    "src",
    "migrations",
  ])
    await cp(join(PROJECT_ROOT, entry), join(dir, entry), { recursive: true });
  await symlink(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  for (const file of extra) await writeFile(join(dir, "migrations", file.fileName), file.source);
  await writeRegistry({
    migrationsDir: join(dir, "migrations"),
    registryFile: join(dir, "src", "db", "migrations.ts"),
  });
  if (inRecord) {
    const record = join(dir, "src", "domain", "audit", "backup-log.record.ts");
    const source = await Bun.file(record).text();
    const columns = extra.map(
      (m) =>
        `  @Column({ name: "${m.column}", type: "integer", nullable: true })\n  ${m.column}: number | null;\n`,
    );
    await writeFile(record, source.replace(/\n}\n$/, `\n\n${columns.join("\n")}}\n`));
  }
  return dir;
}

/**
 * Today's way, as the guide describes it: a CommonJS TypeScript project whose datasource globs
 * src/db/migrations/*.ts, run by TypeORM's CLI under ts-node (typescript 5.9, as ts-node needs).
 */
async function baselineProject(
  dir: string,
  extra: { fileName: string; source: string }[],
): Promise<string> {
  await mkdir(join(dir, "src", "db", "migrations"), { recursive: true });
  await mkdir(join(dir, "src", "domain", "audit"), { recursive: true });
  await symlink(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  for (const file of await readdir(join(PROJECT_ROOT, "migrations"))) {
    await cp(join(PROJECT_ROOT, "migrations", file), join(dir, "src", "db", "migrations", file));
  }
  for (const file of extra)
    await writeFile(join(dir, "src", "db", "migrations", file.fileName), file.source);
  await cp(
    join(PROJECT_ROOT, "src", "domain", "audit", "backup-log.record.ts"),
    join(dir, "src", "domain", "audit", "backup-log.record.ts"),
  );
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "baseline", private: true }));
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2021",
        module: "commonjs",
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        esModuleInterop: true,
        skipLibCheck: true,
        baseUrl: ".",
      },
    }),
  );
  await writeFile(
    join(dir, "src", "db", "datasource.ts"),
    `import { DataSource } from "typeorm";
import { BackupLogRecord } from "../domain/audit/backup-log.record";

export default new DataSource({
  type: "postgres",
  url: process.env.DATABASE_URL,
  entities: [BackupLogRecord],
  migrations: [__dirname + "/migrations/*.ts"],
  migrationsRun: false,
  synchronize: false,
  logging: ["error"],
});
`,
  );
  return dir;
}

function tsNode(dir: string, command: string, db: ConnectionSettings): Contender {
  return {
    label: "TypeORM CLI under ts-node (today)",
    cwd: dir,
    cmd: [
      "node",
      "./node_modules/.bin/ts-node",
      "--project",
      "tsconfig.json",
      "-r",
      "tsconfig-paths/register",
      "./node_modules/typeorm/cli.js",
      command,
      "-d",
      "src/db/datasource.ts",
    ],
    env: { DATABASE_URL: connectionUrl(db) },
  };
}

/**
 * psql itself. Debian's `psql` on PATH is pg_wrapper, a Perl script that picks a client version
 * and then runs it: ~45 ms of Perl start that is not psql's. A floor must be psql's own time.
 */
function psqlBinary(): string {
  const onPath = Bun.which("psql") ?? "psql";
  if (!onPath.startsWith("/") || !realpathSync(onPath).endsWith("pg_wrapper")) return onPath;
  const majors = readdirSync("/usr/lib/postgresql")
    .filter((major) => existsSync(`/usr/lib/postgresql/${major}/bin/psql`))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? `/usr/lib/postgresql/${majors[0]}/bin/psql` : onPath;
}

function psqlFloor(db: ConnectionSettings, args: string[]): Contender {
  return {
    label: "psql (floor)",
    cwd: PROJECT_ROOT,
    cmd: [
      psqlBinary(),
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      db.host,
      "-p",
      String(db.port),
      "-U",
      db.user,
      "-d",
      db.database,
      ...args,
    ],
    env: { PGPASSWORD: db.password },
  };
}

/** dbmate's Go binary, shipped in its platform package: timed without the npm shim's node start. */
function dbmateBinary(): string {
  const arch = process.arch === "ia32" ? "ia32" : process.arch;
  return Bun.resolveSync(`@dbmate/${process.platform}-${arch}/bin/dbmate`, PROJECT_ROOT);
}

/** Writes migrations in dbmate's format (`{version}_{name}.sql`, up and down sections). */
async function dbmateMigrations(
  dir: string,
  migrations: { version: number; name: string; up: string; down: string }[],
): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const m of migrations) {
    await writeFile(
      join(dir, `${m.version}_${m.name}.sql`),
      `-- migrate:up\n${m.up};\n\n-- migrate:down\n${m.down};\n`,
    );
  }
  return dir;
}

function dbmate(dir: string, db: ConnectionSettings, command: string): Contender {
  // Same server, same scram password authentication; loopback without TLS like every contender.
  const url = `${connectionUrl(db)}?sslmode=disable`;
  return {
    label: `dbmate ${command}`,
    cwd: PROJECT_ROOT,
    cmd: [dbmateBinary(), "--no-dump-schema", "--migrations-dir", dir, "--url", url, command],
    env: {},
  };
}

const PG_APPLY_FLOOR = "compiled Bun program: pg, 3 round trips a migration";

const FLOOR_LABELS = {
  empty: "compiled Bun program printing one line",
  pg: "compiled Bun program: pg connect + one query",
  native: "compiled Bun program: Bun.SQL connect + one query",
} as const;

/**
 * The least a compiled Bun program can take for `show`: the runtime alone, and one connection plus
 * one query with pg (what the binary uses) and with Bun's native client. Built with the flags of
 * `bun run build`; they bound case 1.
 */
async function compiledFloors(dir: string): Promise<{ label: string; binary: string }[]> {
  await mkdir(dir, { recursive: true });
  await symlink(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  const query = "SELECT name FROM migrations ORDER BY id";
  const programs = {
    empty: `console.log("started");`,
    pg: `import pg from "pg";
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
for (const row of (await client.query("${query}")).rows) console.log(row.name);
await client.end();`,
    native: `const sql = new Bun.SQL({ url: process.env.DATABASE_URL, max: 1 });
for (const row of await sql.unsafe("${query}")) console.log(row.name);
await sql.close();`,
  };
  const floors: { label: string; binary: string }[] = [];
  for (const [key, source] of Object.entries(programs) as [keyof typeof programs, string][]) {
    floors.push({ label: FLOOR_LABELS[key], binary: await compileProgram(dir, key, source) });
  }
  return floors;
}

/** Compiles one TypeScript program with the flags of `bun run build`; returns the binary. */
async function compileProgram(dir: string, name: string, source: string): Promise<string> {
  await writeFile(join(dir, `${name}.ts`), source);
  const built = await timeOnce({
    label: "build",
    cwd: dir,
    cmd: [
      process.execPath,
      "build",
      "--compile",
      "--minify-whitespace",
      "--minify-syntax",
      "--bytecode",
      "--format=esm",
      "--outfile",
      join(dir, name),
      join(dir, `${name}.ts`),
    ],
    env: {},
  });
  mustSucceed(`bun build ${name}.ts`, built, () => true);
  return join(dir, name);
}

/**
 * The least a compiled Bun program with pg can take to apply the migrations the way the binary
 * does: three round trips each (START TRANSACTION with a statement, the migration's statement,
 * the bookkeeping with COMMIT), no TypeORM. It bounds case 2 for this runtime and driver.
 */
async function pgApplyFloor(
  dir: string,
  migrations: { sql: string; name: string; timestamp: number }[],
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await symlink(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  const steps = migrations.map((m) => [
    "START TRANSACTION; SELECT 1",
    m.sql,
    `INSERT INTO migrations ("timestamp", name) VALUES (${m.timestamp}, '${m.name}'); COMMIT`,
  ]);
  await writeFile(join(dir, "steps.json"), JSON.stringify(steps));
  return compileProgram(
    dir,
    "apply",
    `import pg from "pg";
const steps: string[][] = await Bun.file(${JSON.stringify(join(dir, "steps.json"))}).json();
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
for (const step of steps) for (const sql of step) await client.query(sql);
await client.end();`,
  );
}

/** Builds the migrator of `projectDir` into `outdir`; returns the binary's path. */
async function buildBinary(projectDir: string, outdir: string): Promise<string> {
  const build = await timeOnce({
    label: "build",
    cwd: projectDir,
    cmd: [process.execPath, "run", "build", "--outdir", outdir, "--only", "migrator"],
    env: {},
  });
  mustSucceed("bun run build", build, () => true);
  return join(outdir, "migrator");
}

async function measure(
  contenders: Contender[],
  runs: number,
  prepare: () => Promise<void>,
  check: (c: Contender, r: Timed) => boolean,
): Promise<{ rows: Row[]; rss: Map<string, number> }> {
  const rows: Row[] = contenders.map((c) => ({ label: c.label, runs: [] }));
  const rss = new Map<string, number>();
  // Interleaved, so a slow moment of the machine does not land on one contender only.
  for (let run = 0; run < runs; run++) {
    for (const [i, contender] of contenders.entries()) {
      await prepare();
      const result = await timeOnce(contender);
      mustSucceed(contender.label, result, (r) => check(contender, r));
      rows[i]?.runs.push(result.ms);
      rss.set(contender.label, Math.max(rss.get(contender.label) ?? 0, result.maxRssKiB));
      out.progress(`  ${contender.label}: ${result.ms.toFixed(0)} ms`);
    }
  }
  return { rows, rss };
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

function table(rows: Row[], baseline: string, floor: string): string {
  const base = median(rows.find((r) => r.label === baseline)?.runs ?? [Number.NaN]);
  const flo = median(rows.find((r) => r.label === floor)?.runs ?? [Number.NaN]);
  const lines = [
    "| | runs | min | median | vs. today (× faster) | vs. floor (× slower) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of rows) {
    const m = median(row.runs);
    lines.push(
      `| ${row.label} | ${row.runs.length} | ${fmt(min(row.runs))} | ${fmt(m)} | ${(base / m).toFixed(1)}× | ${(m / flo).toFixed(2)}× |`,
    );
  }
  return lines.join("\n");
}

function chart(groups: { title: string; rows: Row[] }[]): string {
  const width = 760;
  const barHeight = 22;
  const labelWidth = 290;
  let y = 30;
  const parts: string[] = [];
  for (const group of groups) {
    parts.push(`<text x="10" y="${y}" font-weight="bold">${group.title}</text>`);
    y += 12;
    const max = Math.max(...group.rows.map((r) => median(r.runs)));
    for (const row of group.rows) {
      const m = median(row.runs);
      const w = Math.max(2, ((width - labelWidth - 90) * m) / max);
      parts.push(`<text x="10" y="${y + 16}">${row.label}</text>`);
      parts.push(
        `<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${barHeight - 6}" fill="${row.label.startsWith("dist/migrator") ? "#2f7d32" : "#7a8a99"}"/>`,
      );
      parts.push(`<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 16}">${fmt(m)}</text>`);
      y += barHeight;
    }
    y += 24;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="13" role="img">\n<title>${groups.map((g) => g.title).join("; ")}</title>\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}

interface Budget {
  what: string;
  ok: boolean;
  detail: string;
}

const main = defineCommand({
  meta: {
    name: "bun run bench",
    description: "Benchmark the toolkit against TypeORM's CLI (Bun and ts-node), dbmate and psql",
  },
  args: {
    runs: { type: "string", default: "7", description: "runs per contender for migrate:show" },
    suite: {
      type: "boolean",
      default: true,
      description:
        "time the test suite too, the unit tier and the whole (--no-suite: skip, 3 minutes)",
    },
    "apply-runs": {
      type: "string",
      default: "3",
      description: "runs per contender for applying 200 migrations",
    },
    count: {
      type: "string",
      default: "200",
      description: "how many add-column migrations to apply",
    },
    scale: {
      type: "string",
      default: "1000",
      description: "how many add-column migrations migrate:verify, lint and check are timed at",
    },
  },
  run: async ({ args }) => {
    const runs = Number(args.runs);
    const applyRuns = Number(args["apply-runs"]);
    const count = Number(args.count);
    const scale = Number(args.scale);
    const work = join(tmpdir(), `backupctl-bench-${process.pid}`);
    await mkdir(work, { recursive: true, mode: 0o755 });
    out.progress("Starting a throwaway PostgreSQL…");
    const server = await startThrowawayServer("bench");
    try {
      out.progress("Building dist/migrator and today's baseline project…");
      const binary = await buildBinary(PROJECT_ROOT, join(PROJECT_ROOT, "dist"));
      const baseline = await baselineProject(join(work, "baseline"), []);
      const names = (await readdir(join(PROJECT_ROOT, "migrations"))).filter((f) =>
        /^\d{13}-.*\.ts$/.test(f),
      );

      // 1. migrate:show on an up-to-date database.
      const showDb = await createDatabase(server, "bench_show");
      const url = connectionUrl(showDb);
      mustSucceed(
        "migrator run",
        await timeOnce({
          label: "run",
          cwd: work,
          cmd: [binary, "run"],
          env: { DATABASE_URL: url },
        }),
        () => true,
      );
      // dbmate keeps its own history: a database it migrated with as many migrations as ours.
      const dbmateShowDb = await createDatabase(server, "bench_show_dbmate");
      const dbmateShowDir = await dbmateMigrations(
        join(work, "dbmate-show"),
        names.map((file, i) => ({
          version: Number(file.slice(0, 13)),
          name: file.slice(14, -3),
          up: `CREATE TABLE bench_${i} (id integer)`,
          down: `DROP TABLE bench_${i}`,
        })),
      );
      mustSucceed(
        "dbmate up",
        await timeOnce(dbmate(dbmateShowDir, dbmateShowDb, "up")),
        () => true,
      );
      const showContenders: Contender[] = [
        {
          label: "dist/migrator show",
          cwd: work,
          cmd: [binary, "show"],
          env: { DATABASE_URL: url },
        },
        {
          label: "bun run dev migrate:show",
          cwd: PROJECT_ROOT,
          cmd: [process.execPath, "run", "dev", "migrate:show"],
          env: { DATABASE_URL: url, BACKUPCTL_DEV_DB: "external", NODE_ENV: "development" },
        },
        {
          label: "TypeORM CLI under Bun",
          cwd: PROJECT_ROOT,
          cmd: [
            process.execPath,
            "./node_modules/typeorm/cli.js",
            "migration:show",
            "-d",
            "src/db/datasource.ts",
          ],
          env: { DATABASE_URL: url, NODE_ENV: "production" },
        },
        {
          label: "bun run dev migrate:run, nothing to do",
          cwd: PROJECT_ROOT,
          cmd: [process.execPath, "run", "dev", "migrate:run"],
          env: { DATABASE_URL: url, BACKUPCTL_DEV_DB: "external", NODE_ENV: "development" },
        },
        tsNode(baseline, "migration:show", showDb),
        dbmate(dbmateShowDir, dbmateShowDb, "status"),
        psqlFloor(showDb, ["-Atc", "SELECT name FROM migrations ORDER BY id"]),
      ];
      out.progress(`1. migrate:show on an up-to-date database (${runs} runs each)`);
      const show = await measure(
        showContenders,
        runs,
        async () => {},
        (c, r) =>
          c.label.includes("nothing to do") ||
          names.every((file) => r.stdout.includes(file.slice(14, -3))),
      );

      // 2. Applying `count` add-column migrations to a database that has the project's ones.
      out.progress(`2. Applying ${count} add-column migrations (${applyRuns} runs each)`);
      const extra = addColumnMigrations(count);
      const many = await projectWith(join(work, "many"), extra);
      const manyBinary = await buildBinary(many, join(work, "many-dist"));
      const manyBaseline = await baselineProject(join(work, "baseline-many"), extra);
      const template = await createDatabase(server, "bench_base");
      mustSucceed(
        "migrator run",
        await timeOnce({
          label: "run",
          cwd: work,
          cmd: [binary, "run"],
          env: { DATABASE_URL: connectionUrl(template) },
        }),
        () => true,
      );
      const sqlFile = join(work, "floor.sql");
      await writeFile(
        sqlFile,
        extra
          .map(
            (m) =>
              `BEGIN;\n${m.sql};\nINSERT INTO migrations ("timestamp", name) VALUES (${m.timestamp}, '${m.name}');\nCOMMIT;\n`,
          )
          .join(""),
      );
      const dbmateApplyDir = await dbmateMigrations(
        join(work, "dbmate-many"),
        extra.map((m, i) => ({
          version: m.timestamp,
          name: `AddBenchColumn${i + 1}`,
          up: m.sql,
          down: `ALTER TABLE "backup_log" DROP COLUMN "bench_column_${i + 1}"`,
        })),
      );
      const target = { ...template, database: "bench_apply" };
      const applyContenders: Contender[] = [
        {
          label: "dist/migrator run",
          cwd: work,
          cmd: [manyBinary, "run"],
          env: { DATABASE_URL: connectionUrl(target) },
        },
        tsNode(manyBaseline, "migration:run", target),
        dbmate(dbmateApplyDir, target, "up"),
        {
          label: PG_APPLY_FLOOR,
          cwd: work,
          cmd: [await pgApplyFloor(join(work, "pg-apply"), extra)],
          env: { DATABASE_URL: connectionUrl(target) },
        },
        psqlFloor(target, ["-f", sqlFile]),
      ];
      const total = names.length + count;
      const apply = await measure(
        applyContenders,
        applyRuns,
        async () => {
          await createDatabase(server, "bench_apply", "bench_base");
        },
        // dbmate prints one "Applied:" line per migration; the others are counted below (psql
        // runs last) or fail with a non-zero exit.
        (c, r) => !c.label.startsWith("dbmate") || r.stdout.split("Applied:").length - 1 === count,
      );
      if ((await countApplied(target)) !== total)
        throw new MigrateError(
          "internal",
          `expected ${total} applied migrations after the last run`,
        );

      // 3. Diffing on a shadow database, cold (built from every migration) and warm (reused),
      // and every check of migrate:check.
      out.progress(`3. migrate:generate --check cold and warm, migrate:check (${runs} runs)`);
      const devCommand = (label: string, args: string[]): Contender => ({
        label,
        cwd: PROJECT_ROOT,
        cmd: [process.execPath, "run", "dev", ...args],
        env: { DATABASE_URL: url, BACKUPCTL_DEV_DB: "external", NODE_ENV: "development" },
      });
      const dropShadows = async () => {
        const client = server.client();
        await client.connect();
        try {
          const shadows = await client.query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'backupctl_shadow_%'",
          );
          for (const row of shadows.rows as { datname: string }[]) {
            await client.query(
              `DROP DATABASE ${client.escapeIdentifier(row.datname)} WITH (FORCE)`,
            );
          }
        } finally {
          await client.end();
        }
      };
      const inSync = (_c: Contender, r: Timed) => r.stderr.includes("agree");
      const cold = await measure(
        [devCommand("migrate:generate --check, cold shadow", ["migrate:generate", "--check"])],
        runs,
        dropShadows,
        inSync,
      );
      const warm = await measure(
        [devCommand("migrate:generate --check, warm shadow", ["migrate:generate", "--check"])],
        runs,
        async () => {},
        inSync,
      );
      const check = await measure(
        [devCommand("migrate:check (the project's migrations)", ["migrate:check"])],
        runs,
        async () => {},
        () => true,
      );
      const generate = { rows: [...cold.rows, ...warm.rows, ...check.rows] };

      // 4. Scale: the checks that run every migration up and down, at `scale` migrations.
      out.progress(
        `4. migrate:verify, lint and check at ${scale} add-column migrations (once each)`,
      );
      const scaleProject = await projectWith(join(work, "scale"), addColumnMigrations(scale), true);
      const inScale = (label: string, args: string[]): Contender => ({
        ...devCommand(label, args),
        cwd: scaleProject,
      });
      const scaled = await measure(
        [
          inScale("migrate:verify", ["migrate:verify"]),
          inScale("migrate:lint", ["migrate:lint"]),
          inScale("migrate:check", ["migrate:check"]),
        ],
        1,
        async () => {},
        // Exit 0 is the answer: a finding, or an up() that stops the inspection, exits 11 or 12.
        // (Not the last line: the output of a process that exits can be cut short on a pipe.)
        () => true,
      );
      const scaleMs = (label: string) =>
        median(scaled.rows.find((r) => r.label === label)?.runs ?? []);
      const scaleTotal = names.length + scale;
      // The same at a tenth of the migrations: linear growth means the same cost per migration.
      const tenth = Math.max(1, Math.round(scale / 10));
      const tenthProject = await projectWith(join(work, "tenth"), addColumnMigrations(tenth), true);
      const tenthVerify = median(
        (
          await measure(
            [{ ...devCommand("migrate:verify", ["migrate:verify"]), cwd: tenthProject }],
            1,
            async () => {},
            () => true,
          )
        ).rows[0]?.runs ?? [],
      );
      const baseVerify = median(
        (
          await measure(
            [devCommand("migrate:verify", ["migrate:verify"])],
            1,
            async () => {},
            () => true,
          )
        ).rows[0]?.runs ?? [],
      );
      // What each added migration costs (start-up and the project's own migrations subtracted):
      // the first tenth against the other nine.
      const perMigrationAt = {
        tenth: (tenthVerify - baseVerify) / tenth,
        full: (scaleMs("migrate:verify") - tenthVerify) / (scale - tenth),
      };

      // 5. Size, cold start (the binary starting and answering, no database) and memory.
      const size = (await stat(binary)).size;
      const peakRss = apply.rss.get("dist/migrator run") ?? 0;
      const floors = await compiledFloors(join(work, "floors"));

      // 6. The test suite: the unit tier, and with --suite the whole (its own PostgreSQL).
      out.progress(`6. the test suite (unit tier${args.suite ? ", then the whole suite" : ""})`);
      const serverCpuFile = join(work, "suite-server-cpu");
      const suiteRun = async (cmd: string[]) => {
        const timed = await timeOnce({
          label: "test",
          cwd: PROJECT_ROOT,
          cmd: [process.execPath, ...cmd],
          env: { PATH: process.env.PATH ?? "", BACKUPCTL_BENCH_SERVER_CPU: serverCpuFile },
        });
        const counts = /(\d+) pass[\s\S]*?(\d+) fail/.exec(`${timed.stdout}${timed.stderr}`);
        return {
          ms: timed.ms,
          cpuMs: timed.cpuMs,
          passed: Number(counts?.[1] ?? 0),
          failed: Number(counts?.[2] ?? 0),
        };
      };
      // The unit tier as the docs run it: bun test alone, no PostgreSQL started.
      const unitTier = await suiteRun(["test", "tests/unit"]);
      const wholeSuite = args.suite ? await suiteRun(["run", "test"]) : undefined;
      // What bounds the suite: the CPU its processes and its server used, against what the
      // machine's cores give in the same wall time.
      const suiteCpu = wholeSuite && {
        tests: wholeSuite.cpuMs,
        server: Number(await Bun.file(serverCpuFile).text()),
        available: cpus().length * wholeSuite.ms,
      };
      const suiteCpuText = suiteCpu
        ? `CPU: the test processes ${fmt(suiteCpu.tests)}, PostgreSQL ${fmt(suiteCpu.server)}, ${Math.round((100 * (suiteCpu.tests + suiteCpu.server)) / suiteCpu.available)} % of the ${fmt(suiteCpu.available)} ${cpus().length} cores give in that time`
        : "";
      const coldStart = await measure(
        [
          { label: "dist/migrator version", cwd: work, cmd: [binary, "version"], env: {} },
          ...floors.map((floor) => ({
            label: floor.label,
            cwd: work,
            cmd: [floor.binary],
            env: { DATABASE_URL: url },
          })),
        ],
        runs,
        async () => {},
        (c, r) => (c.label.startsWith("dist/") ? r.stdout.startsWith("migrator ") : true),
      );
      const startMedian = (label: string) =>
        median(coldStart.rows.find((r) => r.label === label)?.runs ?? []);

      const showMedian = (label: string) =>
        median(show.rows.find((r) => r.label === label)?.runs ?? []);
      const applyMedian = (label: string) =>
        median(apply.rows.find((r) => r.label === label)?.runs ?? []);
      const bin = showMedian("dist/migrator show");
      const budgets: Budget[] = [
        {
          what: "dist/migrator show within 1.2× of psql",
          ok: bin <= 1.2 * showMedian("psql (floor)"),
          detail: `${(bin / showMedian("psql (floor)")).toFixed(2)}×`,
        },
        ...["bun run dev migrate:show", "bun run dev migrate:run, nothing to do"].map((label) => ({
          what: `${label} within 2× of dist/migrator show`,
          ok: showMedian(label) <= 2 * bin,
          detail: `${(showMedian(label) / bin).toFixed(2)}×`,
        })),
        {
          what: "dist/migrator show ≥ 25× faster than ts-node",
          ok: showMedian("TypeORM CLI under ts-node (today)") / bin >= 25,
          detail: `${(showMedian("TypeORM CLI under ts-node (today)") / bin).toFixed(1)}×`,
        },
        {
          what: "dist/migrator show faster than TypeORM CLI under Bun",
          ok: bin < showMedian("TypeORM CLI under Bun"),
          detail: `${fmt(bin)} vs ${fmt(showMedian("TypeORM CLI under Bun"))}`,
        },
        {
          what: `${count} migrations within 2× of psql`,
          ok: applyMedian("dist/migrator run") <= 2 * applyMedian("psql (floor)"),
          detail: `${(applyMedian("dist/migrator run") / applyMedian("psql (floor)")).toFixed(2)}×`,
        },
        {
          what: `${count} migrations ≥ 25× faster than ts-node`,
          ok:
            applyMedian("TypeORM CLI under ts-node (today)") / applyMedian("dist/migrator run") >=
            25,
          detail: `${(applyMedian("TypeORM CLI under ts-node (today)") / applyMedian("dist/migrator run")).toFixed(1)}×`,
        },
        {
          what: "warm migrate:generate --check under 1 s",
          ok: median(warm.rows[0]?.runs ?? []) < 1000,
          detail: fmt(median(warm.rows[0]?.runs ?? [])),
        },
        {
          what: `verify at ${scale} migrations under ${(scale * 15) / 1000} s`,
          ok: scaleMs("migrate:verify") < scale * 15,
          detail: `${fmt(scaleMs("migrate:verify"))}, ${(scaleMs("migrate:verify") / scaleTotal).toFixed(1)} ms a migration`,
        },
        {
          what: `verify linear: each migration from ${tenth} to ${scale} costs within 1.5× of each of the first ${tenth}`,
          ok: perMigrationAt.full <= 1.5 * perMigrationAt.tenth,
          detail: `${perMigrationAt.full.toFixed(1)} ms vs ${perMigrationAt.tenth.toFixed(1)} ms`,
        },
        {
          what: "migrate:check on the project under 3 s",
          ok: median(check.rows[0]?.runs ?? []) < 3000,
          detail: fmt(median(check.rows[0]?.runs ?? [])),
        },
        {
          what: "unit tier under 5 s",
          ok: unitTier.failed === 0 && unitTier.ms < 5000,
          detail: `${fmt(unitTier.ms)}, ${unitTier.passed} passed, ${unitTier.failed} failed`,
        },
        ...(wholeSuite
          ? [
              {
                what: "whole test suite under 90 s on this machine",
                ok: wholeSuite.failed === 0 && wholeSuite.ms < 90_000,
                detail: `${fmt(wholeSuite.ms)}, ${wholeSuite.passed} passed, ${wholeSuite.failed} failed; ${suiteCpuText}`,
              },
            ]
          : []),
      ];

      const startMs = startMedian("dist/migrator version");
      const pgFloorMs = startMedian(FLOOR_LABELS.pg);
      const nativeFloorMs = startMedian(FLOOR_LABELS.native);
      const psqlShowMs = showMedian("psql (floor)");
      const perMigration = (label: string) =>
        (applyMedian(label) - (label === "psql (floor)" ? psqlShowMs : bin)) / count;
      const psqlVersion = (
        await timeOnce({ label: "psql", cwd: work, cmd: [psqlBinary(), "--version"], env: {} })
      ).stdout.trim();
      const serverVersion = (
        await timeOnce({
          label: "pg",
          cwd: work,
          cmd: [join(embeddedBinDir(), "postgres"), "--version"],
          env: {},
        })
      ).stdout.trim();
      const cpu = cpus()[0]?.model ?? "unknown CPU";
      const report = `# Benchmarks

Written by \`bun run bench\` on ${new Date().toISOString().slice(0, 10)}. One run, all contenders side by side and
interleaved, against one throwaway PostgreSQL on loopback with password (scram-sha-256) authentication for every
contender, psql included. Times are wall clock from process start to exit; lower is better.

Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Bun ${Bun.version}; ${serverVersion}; ${psqlVersion};
toolkit ${pkg.version}. "Today" is TypeORM's CLI under ts-node (typescript 5.9) in a CommonJS project whose
datasource globs \`src/db/migrations/*.ts\`, the way the migration guide runs it.

![migrate:show and ${count} migrations](docs/benchmarks.svg)

## 1. \`migrate:show\` on an up-to-date database

${table(show.rows, "TypeORM CLI under ts-node (today)", "psql (floor)")}

## 2. Applying ${count} add-column migrations (one transaction each)

The database already has the project's ${names.length} migrations; each run starts from a fresh copy of it.

${table(apply.rows, "TypeORM CLI under ts-node (today)", "psql (floor)")}

## 3. Diffing the record against the migrations, and every check

A cold shadow database is built from every migration first; a warm one is reused.

| | runs | min | median |
| --- | ---: | ---: | ---: |
${generate.rows.map((r) => `| \`bun run dev ${r.label}\` | ${r.runs.length} | ${fmt(min(r.runs))} | ${fmt(median(r.runs))} |`).join("\n")}

## 4. At ${scale} migrations: verify, lint and check

The project with ${scale} add-column migrations added to its ${names.length} (and the record with their
columns); each command runs every migration up, down and up again on a scratch database, once.

| | total | per migration |
| --- | ---: | ---: |
${scaled.rows.map((r) => `| \`bun run dev ${r.label}\` | ${fmt(median(r.runs))} | ${(median(r.runs) / scaleTotal).toFixed(1)} ms |`).join("\n")}
| \`bun run dev migrate:verify\` at ${tenth} migrations | ${fmt(tenthVerify)} | ${(tenthVerify / (names.length + tenth)).toFixed(1)} ms |
| \`bun run dev migrate:verify\`, the project's ${names.length} alone | ${fmt(baseVerify)} | |

Each of the first ${tenth} added migrations costs ${perMigrationAt.tenth.toFixed(1)} ms of verify, each of the next
${scale - tenth} ${perMigrationAt.full.toFixed(1)} ms (start-up and the project's own migrations subtracted).

Verify, lint and check read the catalog after each up() and down(), re-reading only what the
migration changed (the catalog rows' transaction ids tell which), not the whole schema, so the
cost of a migration hardly grows with the number before it. What still grows with the table's
width is PostgreSQL's own work for an \`ALTER TABLE\` on a wide table (three per migration here:
up, down, up again), which any tool pays.

## 5. Size and memory

| | |
| --- | ---: |
| \`dist/migrator\` size | ${(size / 2 ** 20).toFixed(1)} MiB |
| cold start: \`dist/migrator version\`, median of ${runs} | ${fmt(startMedian("dist/migrator version"))} |
${floors.map((floor) => `| ${floor.label}, median of ${runs} | ${fmt(startMedian(floor.label))} |`).join("\n")}
| peak memory of \`dist/migrator run\` (${count} migrations) | ${(peakRss / 1024).toFixed(0)} MiB |

## 6. The test suite

| | wall | tests |
| --- | ---: | ---: |
| \`bun test tests/unit\` (no PostgreSQL) | ${fmt(unitTier.ms)} | ${unitTier.passed} passed, ${unitTier.failed} failed |
${wholeSuite ? `| \`bun run test\` (three workers, one throwaway PostgreSQL) | ${fmt(wholeSuite.ms)} | ${wholeSuite.passed} passed, ${wholeSuite.failed} failed |` : "| `bun run test` | not run (`--no-suite`) | |"}

${suiteCpu ? `${suiteCpuText}. ` : ""}The whole suite is CPU-bound: its end-to-end files run the real CLIs (\`bun run dev\`,
\`./manage\`, the compiled binaries) as a user would, dozens of times each, against a real server
(about 850 Bun processes, 730 bash, 340 git and 60 PostgreSQL servers in one run, counted with
strace; see docs/development.md#performance).

## Budgets

| budget | result | |
| --- | --- | ---: |
${budgets.map((b) => `| ${b.what} | ${b.ok ? "met" : "**missed**"} | ${b.detail} |`).join("\n")}

## Where the time goes

- The binary's cold start (\`dist/migrator version\`: the Bun runtime starting and evaluating the
  bundled code, no database) takes ${fmt(startMs)}; a compiled Bun program that prints one line takes
  ${fmt(startMedian(FLOOR_LABELS.empty))}. psql's whole \`show\` takes ${fmt(psqlShowMs)}.
- \`show\` loads no TypeORM and no migration class (the build bakes in the migrations' names and
  checksums): it connects with pg and reads the two bookkeeping tables. A compiled Bun program doing
  nothing but connect with pg and run one query takes ${fmt(pgFloorMs)}; the binary's \`show\` ${fmt(bin)}.
  The same program with Bun's native client (Bun.SQL) takes ${fmt(nativeFloorMs)}, but that client
  ignores \`sslmode\` (\`sslmode=require\` connects in cleartext) and reports an unknown host as a
  refused connection, so the toolkit keeps pg, whose TLS modes and failures are tested.
- dbmate (a Go binary, no runtime to start) on the same server and authentication: \`status\`
  ${fmt(showMedian("dbmate status"))} against the binary's \`show\` ${fmt(bin)} (${(showMedian("dbmate status") / bin).toFixed(2)}×); applying ${count}
  migrations ${fmt(applyMedian("dbmate up"))} against ${fmt(applyMedian("dist/migrator run"))} (${(applyMedian("dbmate up") / applyMedian("dist/migrator run")).toFixed(2)}×; above 1 means the
  binary is faster).
- Per migration in case 2: the binary ${(perMigration("dist/migrator run")).toFixed(2)} ms, psql ${perMigration("psql (floor)").toFixed(2)} ms,
  over ${count} migrations after subtracting each one's \`show\` time (start, connect). The binary
  makes three round trips per migration (START TRANSACTION with the claim, the statement, the
  bookkeeping with COMMIT), psql four (BEGIN, the statement, the insert, COMMIT). A compiled Bun
  program sending the same three round trips with pg and nothing else takes ${fmt(applyMedian(PG_APPLY_FLOOR))}
  (${(applyMedian(PG_APPLY_FLOOR) / applyMedian("psql (floor)")).toFixed(2)}× psql): that is what Bun and pg cost against libpq, before any of the
  toolkit's work; the binary takes ${(applyMedian("dist/migrator run") / applyMedian(PG_APPLY_FLOOR)).toFixed(2)}× that (TypeORM's query runner, the claim, the
  data-loss gate and checksums).
`;
      await Bun.write(join(PROJECT_ROOT, "BENCHMARKS.md"), report);
      await Bun.write(
        join(PROJECT_ROOT, "docs", "benchmarks.svg"),
        chart([
          { title: "migrate:show, up-to-date database (median)", rows: show.rows },
          { title: `applying ${count} migrations (median)`, rows: apply.rows },
        ]),
      );
      out.data(report);
      for (const b of budgets)
        (b.ok ? out.success : out.warn)(`${b.ok ? "met" : "missed"}: ${b.what} (${b.detail})`);
    } finally {
      await server.destroy();
      await rm(work, { recursive: true, force: true });
    }
  },
});

await runCli(main);
