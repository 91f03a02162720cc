import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DataSource } from "typeorm";
import { AuditDatabase, unavailableAuditLog } from "../../src/app/audit-database.ts";
import { AuditFallbackFile } from "../../src/app/audit-fallback.ts";
import {
  AlreadyRunningError,
  BackupRunner,
  type RunEvent,
  type RunnerDeps,
} from "../../src/app/backup-runner.ts";
import { acquireLock } from "../../src/app/file-lock.ts";
import type { ProjectConfig } from "../../src/app/project-config.ts";
import { replayFallback } from "../../src/app/replay.ts";
import { type StatePaths, statePaths } from "../../src/app/settings.ts";
import { catchUp } from "../../src/app/startup.ts";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { buildDataSourceOptions } from "../../src/config/typeorm.config.ts";
import type { AuditLogPort } from "../../src/domain/audit/audit-log.port.ts";
import type { BackupRun, BackupStage } from "../../src/domain/audit/backup-run.ts";
import { TypeormAuditLogRepository } from "../../src/domain/audit/typeorm-audit-log.repository.ts";
import { freshDatabase, openDataSource, query } from "../support/database.ts";
import { testServerConnection } from "../support/server.ts";

let db: ConnectionSettings;
let ds: DataSource;
let audit: TypeormAuditLogRepository;
let dir: string;
let paths: StatePaths;
let fallback: AuditFallbackFile;
let events: RunEvent[];
let progress: BackupStage[];

beforeEach(async () => {
  db = await freshDatabase();
  ds = await openDataSource(db);
  await ds.runMigrations({ transaction: "each" });
  audit = new TypeormAuditLogRepository(ds);
  dir = await mkdtemp(join(tmpdir(), "backupctl-runner-"));
  paths = statePaths(join(dir, "data"));
  fallback = new AuditFallbackFile(paths.fallbackFile, paths.fallbackLock);
  events = [];
  progress = [];
});

afterEach(async () => {
  if (ds.isInitialized) await ds.destroy();
});

/** The real repository, noting each stage it is told about. */
function trackingAudit(port: AuditLogPort = audit): AuditLogPort {
  return {
    startRun: (input) => port.startRun(input),
    trackProgress: async (id, stage) => {
      progress.push(stage);
      await port.trackProgress(id, stage);
    },
    finishRun: (id, result) => port.finishRun(id, result),
    findByProject: (name, options) => port.findByProject(name, options),
    findFailed: (options) => port.findFailed(options),
    findSince: (since, options) => port.findSince(since, options),
    findOrphaned: (olderThan) => port.findOrphaned(olderThan),
  };
}

function runner(overrides: Partial<RunnerDeps> = {}): BackupRunner {
  return new BackupRunner({
    audit: trackingAudit(),
    fallback,
    clock: () => new Date(),
    lockPath: paths.projectLock,
    workDir: dir,
    env: { PATH: process.env.PATH },
    retryDelayMs: 0,
    onEvent: (event) => events.push(event),
    ...overrides,
  });
}

function project(overrides: Partial<ProjectConfig> = {}): ProjectConfig {
  return {
    name: "shop",
    command: 'printf "dump-data" > "$BACKUPCTL_OUTPUT"',
    output: join(dir, "backups", "shop.dump"),
    preHook: null,
    postHook: null,
    retries: 0,
    timeoutSeconds: 30,
    ...overrides,
  };
}

async function finished(outcome: Awaited<ReturnType<BackupRunner["run"]>>): Promise<BackupRun> {
  if (outcome.dryRun) throw new Error("expected a real run");
  return outcome.run;
}

type Row = Record<string, unknown>;
async function rows(): Promise<Row[]> {
  return query(db, "SELECT * FROM backup_log ORDER BY started_at");
}

/** True while the process exists and is not a zombie (this sandbox's pid 1 may not reap). */
async function processRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe("a successful run", () => {
  test("records success with the dump size, every stage, the duration; hooks see the project", async () => {
    const hookLog = join(dir, "hooks.log");
    const run = await finished(
      await runner().run(
        project({
          preHook: `echo "pre $BACKUPCTL_STAGE $BACKUPCTL_PROJECT $BACKUPCTL_RUN_ID" >> ${hookLog}`,
          postHook: `echo "post $BACKUPCTL_STAGE $BACKUPCTL_STATUS $BACKUPCTL_OUTPUT" >> ${hookLog}`,
        }),
      ),
    );
    expect(run).toMatchObject({
      status: "success",
      dumpSizeBytes: 9,
      verified: true,
      retryCount: 0,
    });
    expect(progress).toEqual(["pre_hook", "dump", "verify", "post_hook"]);
    expect(events.map((event) => (event.type === "stage" ? event.stage : event.type))).toEqual(
      progress,
    );
    expect(await readFile(hookLog, "utf8")).toBe(
      `pre pre_hook shop ${run.id}\npost post_hook success ${project().output}\n`,
    );

    const [row = {}] = await rows();
    expect(row).toMatchObject({
      id: run.id,
      project_name: "shop",
      status: "success",
      current_stage: "post_hook",
      dump_size_bytes: "9",
      verified: true,
      error_stage: null,
      error_message: null,
      retry_count: 0,
    });
    const started = (row.started_at as Date).getTime();
    const completed = (row.completed_at as Date).getTime();
    expect(Number(row.duration_ms)).toBe(completed - started);
    expect(completed - started).toBeGreaterThan(0);
    expect(await Bun.file(paths.projectLock("shop")).exists()).toBe(false);
  });

  test("a dry run plans the stages, and runs, records and locks nothing", async () => {
    const marker = join(dir, "ran");
    const outcome = await runner().run(
      project({ preHook: `touch ${marker}`, command: `touch ${marker}`, retries: 2 }),
      { dryRun: true },
    );
    expect(outcome).toEqual({
      dryRun: true,
      plan: {
        project: "shop",
        workDir: dir,
        env: { BACKUPCTL_PROJECT: "shop", BACKUPCTL_OUTPUT: project().output },
        timeoutSeconds: 30,
        retries: 2,
        steps: [
          { stage: "pre_hook", run: `touch ${marker}` },
          { stage: "dump", run: `touch ${marker}` },
          {
            stage: "verify",
            run: `check that ${project().output} was written by this run and is not empty`,
          },
        ],
      },
    });
    expect(await Bun.file(marker).exists()).toBe(false);
    expect(await rows()).toEqual([]);
  });
});

describe("a failing run", () => {
  test("a failing command: failed at dump with the start of its stderr; post_hook still runs", async () => {
    const hookLog = join(dir, "hooks.log");
    const run = await finished(
      await runner({ secrets: ["s3cret-pw"] }).run(
        project({
          command: [
            'echo "pg_dump: error: connection to postgres://backup:s3cret-pw@db/shop failed" >&2',
            "echo 'pg_dump: detail: s3cret-pw was refused' >&2",
            "exit 3",
          ].join("; "),
          postHook: `echo "$BACKUPCTL_STATUS" > ${hookLog}`,
        }),
      ),
    );
    const message =
      "exit code 3: pg_dump: error: connection to postgres://backup:***@db/shop failed\npg_dump: detail: *** was refused";
    expect(run).toMatchObject({ status: "failed", errorStage: "dump", errorMessage: message });
    expect(progress).toEqual(["dump", "post_hook"]);
    expect(await readFile(hookLog, "utf8")).toBe("failed\n");
    expect((await rows())[0]).toMatchObject({
      status: "failed",
      error_stage: "dump",
      error_message: message,
      dump_size_bytes: null,
      verified: false,
    });
  });

  test("the message keeps only the first lines of a long stderr", async () => {
    const run = await finished(await runner().run(project({ command: "seq 1 10000 >&2; exit 1" })));
    expect(run.errorMessage).toBe("exit code 1: 1\n2\n3\n4\n5");
  });

  // The excerpt is at most 1000 characters: this password starts at character 990 of it.
  const PASSWORD = "Zq9-hunter2-Pw7xK";

  test("a password across the 1000-character cut is redacted, not cut in two", async () => {
    const run = await finished(
      await runner({ secrets: [PASSWORD] }).run(
        project({ command: `printf '%0990d${PASSWORD} and more\\n' 0 >&2; exit 1` }),
      ),
    );
    expect(run.errorMessage).toBe(`exit code 1: ${"0".repeat(990)}*** and m…`);
    expect(run.errorMessage).not.toContain(PASSWORD.slice(0, 3));
  });

  test("a password across the 64 KiB stderr cut leaves no part behind", async () => {
    // Blank lines are skipped by the excerpt: the cut line would be its first line.
    const run = await finished(
      await runner({ secrets: [PASSWORD] }).run(
        project({
          command: `printf '%65530s' '' | tr ' ' '\\n' >&2; printf '${PASSWORD}\\n' >&2; exit 1`,
        }),
      ),
    );
    expect(run.errorMessage).toBe("exit code 1 (nothing on stderr)");
  });

  test("a line still being written when stderr stops being read is left out, secret or not", async () => {
    // A background child keeps stderr open after the shell exits, half-way through a password.
    const run = await finished(
      await runner({ secrets: [PASSWORD] }).run(
        project({
          command: `echo whole line >&2; (printf '${PASSWORD.slice(0, 9)}' >&2; sleep 2; printf '${PASSWORD.slice(9)}' >&2) & exit 1`,
        }),
      ),
    );
    expect(run.errorMessage).toBe("exit code 1: whole line");
  });

  test("a timeout stops the whole process group and fails the dump", async () => {
    const pidFile = join(dir, "pid");
    const started = Date.now();
    const run = await finished(
      await runner().run(
        project({ command: `sleep 30 & echo $! > ${pidFile}; wait`, timeoutSeconds: 1 }),
      ),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run).toMatchObject({
      status: "failed",
      errorStage: "dump",
      errorMessage: "timed out after 1 s (nothing on stderr)",
    });
    const sleeper = Number(await readFile(pidFile, "utf8"));
    await waitFor(
      async () => !(await processRunning(sleeper)),
      "the backgrounded sleep to be stopped",
    );
  });

  test("a pre_hook failure skips the dump", async () => {
    const marker = join(dir, "dumped");
    const run = await finished(
      await runner().run(
        project({ preHook: "echo 'app busy' >&2; false", command: `touch ${marker}` }),
      ),
    );
    expect(run).toMatchObject({
      status: "failed",
      errorStage: "pre_hook",
      errorMessage: "exit code 1: app busy",
    });
    expect(await Bun.file(marker).exists()).toBe(false);
  });

  test("a failing post_hook fails a run whose dump worked", async () => {
    const run = await finished(await runner().run(project({ postHook: "exit 4" })));
    expect(run).toMatchObject({
      status: "failed",
      errorStage: "post_hook",
      errorMessage: "exit code 4 (nothing on stderr)",
      dumpSizeBytes: 9,
    });
  });

  test.each([
    [
      "writes nothing",
      "true",
      "does not exist: the command must write the dump to $BACKUPCTL_OUTPUT",
    ],
    ["writes an empty file", ': > "$BACKUPCTL_OUTPUT"', "is empty"],
    [
      "leaves the previous dump as it was",
      "true",
      "was not written by this run (unchanged since before the dump)",
    ],
  ])("verify fails when the command %s", async (what, command, reason) => {
    const output = project().output;
    if (what.includes("previous")) {
      await mkdir(join(dir, "backups"), { recursive: true });
      await writeFile(output, "yesterday's dump");
      const yesterday = new Date(Date.now() - 86_400_000);
      await utimes(output, yesterday, yesterday);
    }
    const run = await finished(await runner().run(project({ command })));
    expect(run).toMatchObject({
      status: "failed",
      errorStage: "verify",
      errorMessage: `${output} ${reason}`,
    });
  });
});

describe("retries", () => {
  const flaky = (counter: string, failures: number) =>
    [
      `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${counter}`,
      `if [ $n -le ${failures} ]; then echo "flaky failure $n" >&2; exit 1; fi`,
      'printf "dump-data" > "$BACKUPCTL_OUTPUT"',
    ].join("\n");

  test("a command failing once then succeeding: success with retry_count 1", async () => {
    const counter = join(dir, "count");
    const run = await finished(
      await runner().run(project({ command: flaky(counter, 1), retries: 3 })),
    );
    expect(run).toMatchObject({
      status: "success",
      retryCount: 1,
      dumpSizeBytes: 9,
      errorMessage: null,
    });
    expect(await readFile(counter, "utf8")).toBe("2\n");
    expect(events.filter((event) => event.type === "retry")).toEqual([
      {
        type: "retry",
        project: "shop",
        retry: 1,
        retries: 3,
        reason: "exit code 1: flaky failure 1",
      },
    ]);
    expect((await rows())[0]).toMatchObject({ status: "success", retry_count: 1 });
  });

  test("retries used up: failed with the last attempt's message", async () => {
    const counter = join(dir, "count");
    const run = await finished(
      await runner().run(project({ command: flaky(counter, 99), retries: 2 })),
    );
    expect(run).toMatchObject({
      status: "failed",
      retryCount: 2,
      errorStage: "dump",
      errorMessage: "exit code 1: flaky failure 3",
    });
    expect(await readFile(counter, "utf8")).toBe("3\n");
  });
});

describe("one run per project", () => {
  test("a second concurrent run of the same project is refused; other projects are not", async () => {
    const go = join(dir, "go");
    const slow = project({
      command: `while [ ! -f ${go} ]; do sleep 0.02; done; printf x > "$BACKUPCTL_OUTPUT"`,
    });
    const first = runner().run(slow);
    await waitFor(() => Bun.file(paths.projectLock("shop")).exists(), "the first run's lock");

    const second = await runner()
      .run(slow)
      .catch((error: unknown) => error);
    expect(second).toBeInstanceOf(AlreadyRunningError);
    expect((second as Error).message).toBe(
      `a backup of shop is already running (process ${process.pid}): not starting another`,
    );
    const other = await finished(
      await runner().run(project({ name: "blog", output: join(dir, "backups", "blog.dump") })),
    );
    expect(other.status).toBe("success");

    await writeFile(go, "");
    expect((await finished(await first)).status).toBe("success");
    expect((await rows()).map((row) => row.project_name).sort()).toEqual(["blog", "shop"]);
  });

  test("an interrupt stops the command and records the run as failed", async () => {
    const interrupt = new AbortController();
    const outcome = runner().run(project({ command: "sleep 30", postHook: "true" }), {
      signal: interrupt.signal,
    });
    await waitFor(async () => progress.includes("dump"), "the dump to start");
    await Bun.sleep(100);
    interrupt.abort("SIGTERM");
    const run = await finished(await outcome);
    expect(run).toMatchObject({
      status: "failed",
      errorStage: "dump",
      errorMessage: "interrupted: backupctl was stopped (nothing on stderr)",
    });
    expect(progress).toEqual(["dump"]); // nothing more starts, not even post_hook
  });
});

describe("without the audit database", () => {
  async function unreachablePort(): Promise<AuditLogPort> {
    const options = buildDataSourceOptions({ NODE_ENV: "test" }, { ...db, port: 1 });
    const error = await new AuditDatabase(options).dataSource().catch((caught: unknown) => caught);
    return unavailableAuditLog(error);
  }

  test("unreachable from the start: the backup runs, the run goes to the fallback file, then replays", async () => {
    const outcome = await runner({ audit: await unreachablePort() }).run(project());
    if (outcome.dryRun) throw new Error("expected a run");
    expect(outcome.recordedIn).toBe("fallback");
    expect(outcome.auditUnavailable).toContain("cannot connect to postgres://");
    expect(outcome.run).toMatchObject({
      status: "success",
      dumpSizeBytes: 9,
      currentStage: "verify",
    });
    expect(await rows()).toEqual([]);

    const lines = (await readFile(paths.fallbackFile, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ id: outcome.run.id, status: "success" });

    expect(await replayFallback(ds, fallback)).toEqual({ replayed: 1, kept: 0, problems: [] });
    expect(await readFile(paths.fallbackFile, "utf8")).toBe("");
    expect(await audit.findByProject("shop")).toEqual([
      { ...outcome.run, createdAt: expect.any(Date) },
    ]);
  });

  test("lost in the middle of a run: the fallback's final state overwrites the started row", async () => {
    const go = join(dir, "go");
    const admin = testServerConnection();
    const cutOff = async () => {
      await query(admin, `ALTER DATABASE "${db.database}" ALLOW_CONNECTIONS false`);
      await query(
        admin,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        [db.database],
      );
      await writeFile(go, "");
    };
    const onEvent = (event: RunEvent) => {
      if (event.type === "stage" && event.stage === "dump") void cutOff();
    };
    const outcome = await runner({ onEvent }).run(
      project({
        command: `while [ ! -f ${go} ]; do sleep 0.02; done; printf dump > "$BACKUPCTL_OUTPUT"`,
      }),
    );
    if (outcome.dryRun) throw new Error("expected a run");
    expect(outcome.recordedIn).toBe("fallback");
    expect(outcome.run).toMatchObject({
      status: "success",
      currentStage: "verify",
      dumpSizeBytes: 4,
    });

    await query(admin, `ALTER DATABASE "${db.database}" ALLOW_CONNECTIONS true`);
    expect((await rows())[0]).toMatchObject({
      id: outcome.run.id,
      status: "started",
      current_stage: "dump",
    });
    expect((await replayFallback(ds, fallback)).replayed).toBe(1);
    const [row] = await rows();
    expect(row).toMatchObject({ status: "success", current_stage: "verify", dump_size_bytes: "4" });
    expect(Number(row?.duration_ms)).toBe(outcome.run.durationMs ?? -1);
  });

  test("a database behind this build (no backup_log yet): the run waits in the fallback file too", async () => {
    const bare = await freshDatabase();
    const bareDs = await openDataSource(bare);
    try {
      const outcome = await runner({ audit: new TypeormAuditLogRepository(bareDs) }).run(project());
      if (outcome.dryRun) throw new Error("expected a run");
      expect(outcome).toMatchObject({ recordedIn: "fallback", run: { status: "success" } });
      expect(outcome.auditUnavailable).toContain('relation "backup_log" does not exist');

      await bareDs.runMigrations({ transaction: "each" });
      expect((await replayFallback(bareDs, fallback)).replayed).toBe(1);
      const replayed = await new TypeormAuditLogRepository(bareDs).findByProject("shop");
      expect(replayed.map((run) => run.id)).toEqual([outcome.run.id]);
    } finally {
      await bareDs.destroy();
    }
  });

  test("replay keeps what it cannot write, and everything while the database is away", async () => {
    const good = { ...(await startedAndFinished("shop")), id: crypto.randomUUID() };
    await mkdir(join(dir, "data"), { recursive: true });
    await writeFile(
      paths.fallbackFile,
      [
        JSON.stringify({ ...good, id: "not-a-uuid" }),
        "{ truncated by a crash",
        JSON.stringify(good),
      ].join("\n"),
    );
    const gone = await freshDatabase();
    const down = await openDataSource(gone);
    await query(testServerConnection(), `DROP DATABASE "${gone.database}" WITH (FORCE)`);
    const nothing = await replayFallback(down, fallback);
    await down.destroy();
    expect(nothing).toMatchObject({ replayed: 0, kept: 3 });
    // The first line fails to connect, and the rest wait untouched for the next replay.
    expect(nothing.problems).toEqual([
      expect.stringMatching(/^line 1 \(run not-a-uuid\): .*does not exist/),
    ]);

    const report = await replayFallback(ds, fallback);
    expect(report.replayed).toBe(1);
    expect(report.kept).toBe(1);
    expect(report.problems[0]).toStartWith("line 1 (run not-a-uuid): ");
    expect(report.problems[1]).toBe(
      `line 2 is not a run (JSON Parse error: Expected '}'): moved to ${paths.fallbackFile}.corrupt`,
    );
    const left = (await readFile(paths.fallbackFile, "utf8")).trim().split("\n");
    expect(left).toHaveLength(1);
    expect(left[0]).toContain("not-a-uuid");
    expect(await readFile(`${paths.fallbackFile}.corrupt`, "utf8")).toBe(
      "{ truncated by a crash\n",
    );
    expect((await rows()).map((row) => row.id)).toEqual([good.id]);
  });

  test("a torn last line (crash mid-write): later runs still replay, the torn line is reported once", async () => {
    const offline = runner({ audit: await unreachablePort() });
    const first = await finished(await offline.run(project()));
    // The crash: the file ends half-way through a line.
    const whole = await readFile(paths.fallbackFile, "utf8");
    const torn = JSON.stringify({ ...first, id: crypto.randomUUID() }).slice(0, 60);
    await writeFile(paths.fallbackFile, `${whole}${torn}`);
    const second = await finished(await offline.run(project()));

    const report = await replayFallback(ds, fallback);
    expect(report).toMatchObject({ replayed: 2, kept: 0 });
    expect(report.problems).toEqual([
      expect.stringMatching(
        /^line 2 is not a run \(.*\): moved to .*audit-fallback\.jsonl\.corrupt$/,
      ),
    ]);
    expect((await rows()).map((row) => row.id)).toEqual([first.id, second.id]);
    expect(await readFile(`${paths.fallbackFile}.corrupt`, "utf8")).toBe(`${torn}\n`);
    expect(await replayFallback(ds, fallback)).toEqual({ replayed: 0, kept: 0, problems: [] });
  });

  async function startedAndFinished(projectName: string): Promise<BackupRun> {
    const run = await audit.startRun({ projectName });
    const done = await audit.finishRun(run.id, { status: "success", dumpSizeBytes: 5 });
    await query(db, "DELETE FROM backup_log");
    return done;
  }
});

describe("crash recovery", () => {
  const DAY = 86_400_000;

  test("orphaned started runs are finished as failed at their stage, unless a live process holds the project", async () => {
    const now = Date.now();
    const crashed = await audit.startRun({
      projectName: "shop",
      startedAt: new Date(now - 2 * DAY),
    });
    await audit.trackProgress(crashed.id, "dump");
    const busy = await audit.startRun({ projectName: "blog", startedAt: new Date(now - 2 * DAY) });
    const recent = await audit.startRun({ projectName: "cms", startedAt: new Date(now - 60_000) });
    const done = await audit.startRun({ projectName: "wiki", startedAt: new Date(now - 3 * DAY) });
    await audit.finishRun(done.id, { status: "success" });

    const blogLock = await acquireLock(paths.projectLock("blog"));
    try {
      const report = await catchUp({
        dataSource: ds,
        fallback,
        projects: [project()],
        lockPath: paths.projectLock,
        clock: () => new Date(),
        retryDelayMs: 0,
      });
      expect(report.recovered.map((run) => run.id)).toEqual([crashed.id]);
    } finally {
      await blogLock.release();
    }
    const byId = new Map((await rows()).map((row) => [row.id, row]));
    expect(byId.get(crashed.id)).toMatchObject({ status: "failed", error_stage: "dump" });
    expect(String(byId.get(crashed.id)?.error_message)).toStartWith("crash_recovery: ");
    expect(byId.get(busy.id)).toMatchObject({ status: "started" });
    expect(byId.get(recent.id)).toMatchObject({ status: "started" });
    expect(byId.get(done.id)).toMatchObject({ status: "success" });
  });
});
