import { beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectionSettings } from "../../src/config/connection.ts";
import { connectionUrl } from "../../src/config/connection.ts";
import { migrations } from "../../src/db/migrations.ts";
import { freshDatabase, migratedDatabase, query } from "../support/database.ts";
import { projectCopy, run } from "../support/project.ts";

/**
 * A pristine copy of the project to run `bun src/app/main.ts` in, as a developer does: Bun takes
 * the decorator settings from the tsconfig.json of the working directory, and the copy has no
 * .env and no config/ of its own.
 */
let project: string;
beforeAll(async () => {
  project = await projectCopy();
});
const MAIN = "src/app/main.ts";

const PROJECTS = `# written by tests/e2e/app-cli.test.ts
projects:
  - name: shop
    command: printf 'dump-data' > "$BACKUPCTL_OUTPUT"
    output: backups/shop.dump
  - name: broken
    command: >-
      echo "pg_dump: error: connection to server failed" >&2; exit 2
    output: backups/broken.dump
  - name: slow
    command: touch slow.started; while [ ! -f slow.go ]; do sleep 0.05; done; printf x > "$BACKUPCTL_OUTPUT"
    output: backups/slow.dump
`;

interface Workspace {
  /** Where the config lives; relative outputs and commands are relative to it. */
  configDir: string;
  stateDir: string;
  env: Record<string, string>;
  backupctl: (args: string[]) => ReturnType<typeof run>;
}

/** A user's setup: a config file and a state dir in a temp folder, the audit database at `url`. */
async function workspace(url: string, projects = PROJECTS): Promise<Workspace> {
  const root = await mkdtemp(join(tmpdir(), "backupctl-cli-"));
  const configDir = join(root, "config");
  await mkdir(configDir);
  await writeFile(join(configDir, "projects.yml"), projects);
  const stateDir = join(root, "state");
  const env = {
    DATABASE_URL: url,
    BACKUPCTL_CONFIG: join(configDir, "projects.yml"),
    BACKUPCTL_STATE_DIR: stateDir,
  };
  return {
    configDir,
    stateDir,
    env,
    backupctl: (args) => run([process.execPath, MAIN, ...args], { cwd: project, env }),
  };
}

/** A URL nothing listens on, with a password that must never be printed. */
function unreachableUrl(db: ConnectionSettings): string {
  return connectionUrl({ ...db, port: 1 });
}

const errorLines = (stderr: string) =>
  stderr.split("\n").filter((line) => line.startsWith("error: "));

test("version", async () => {
  const { backupctl } = await workspace("postgres://unused@127.0.0.1:1/x");
  const plain = await backupctl(["version"]);
  expect(plain).toMatchObject({ exitCode: 0, stderr: "" });
  expect(plain.stdout).toMatch(/^backupctl \d+\.\d+\.\d+ \(source\)\n$/);
  expect((await backupctl(["--version"])).stdout).toBe(plain.stdout);
});

describe("backupctl run, status, logs", () => {
  test("a successful and a failed backup, as status and logs then show them", async () => {
    const db = await migratedDatabase();
    const { backupctl, configDir } = await workspace(connectionUrl(db));

    const ok = await backupctl(["run", "shop"]);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toBe("");
    expect(ok.stderr).toContain("shop: dump\nshop: verify\n");
    expect(ok.stderr).toMatch(/shop: backed up 9 B in \d+\.\d s \(run [0-9a-f-]{36}\)/);
    expect(await readFile(join(configDir, "backups", "shop.dump"), "utf8")).toBe("dump-data");

    const failed = await backupctl(["run", "broken"]);
    expect(failed.exitCode).toBe(20);
    expect(errorLines(failed.stderr)).toEqual([
      expect.stringMatching(
        /^error: broken: backup failed at dump after \d+\.\d s: exit code 2: pg_dump: error: connection to server failed$/,
      ),
    ]);

    const status = await backupctl(["status"]);
    expect(status.exitCode).toBe(0);
    const lines = status.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PROJECT\s+STATUS\s+STARTED\s+DURATION\s+SIZE\s+ERROR$/);
    expect(lines[1]).toMatch(
      /^shop\s+success\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\d+\.\d s\s+9 B$/,
    );
    expect(lines[2]).toMatch(
      /^broken\s+failed\s+.*\s+dump: exit code 2: pg_dump: error: connection to server failed$/,
    );
    expect(lines[3]).toMatch(/^slow\s+never run$/);

    const json = JSON.parse((await backupctl(["status", "--json"])).stdout);
    expect(json.map((entry: { project: string }) => entry.project)).toEqual([
      "shop",
      "broken",
      "slow",
    ]);
    expect(json[0].runs[0]).toMatchObject({ status: "success", dumpSizeBytes: 9, verified: true });

    await backupctl(["run", "shop"]);
    const history = JSON.parse(
      (await backupctl(["status", "shop", "--json", "--last", "5"])).stdout,
    );
    expect(history[0].runs).toHaveLength(2);

    const logs = await backupctl(["logs", "broken", "--failed", "--json"]);
    expect(JSON.parse(logs.stdout)).toEqual([
      expect.objectContaining({
        project: "broken",
        status: "failed",
        errorStage: "dump",
        errorMessage: "exit code 2: pg_dump: error: connection to server failed",
      }),
    ]);
    const text = await backupctl(["logs", "broken"]);
    expect(text.stdout).toContain(
      "    dump: exit code 2: pg_dump: error: connection to server failed\n",
    );
    expect((await backupctl(["logs", "shop", "--failed"])).stderr).toContain(
      "no failed runs of shop recorded",
    );

    const rows = await query(db, "SELECT project_name, status FROM backup_log ORDER BY started_at");
    expect(rows).toEqual([
      { project_name: "shop", status: "success" },
      { project_name: "broken", status: "failed" },
      { project_name: "shop", status: "success" },
    ]);
  });

  test("--all runs every project and exits 20 when one failed", async () => {
    const db = await migratedDatabase();
    const { backupctl, configDir } = await workspace(connectionUrl(db));
    await writeFile(join(configDir, "slow.go"), "");
    const all = await backupctl(["run", "--all"]);
    expect(all.exitCode).toBe(20);
    expect(errorLines(all.stderr)).toHaveLength(1);
    const rows = await query(db, "SELECT project_name, status FROM backup_log ORDER BY started_at");
    expect(rows.map((row) => `${row.project_name} ${row.status}`)).toEqual([
      "shop success",
      "broken failed",
      "slow success",
    ]);
  });

  test("--dry-run prints the plan and needs no database; nothing runs", async () => {
    const db = await freshDatabase();
    const { backupctl, configDir } = await workspace(unreachableUrl(db));
    const dry = await backupctl(["run", "shop", "--dry-run"]);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toBe(
      [
        `shop: in ${configDir}, each command limited to 3600 s, no retries`,
        "  BACKUPCTL_PROJECT=shop",
        `  BACKUPCTL_OUTPUT=${join(configDir, "backups", "shop.dump")}`,
        `  dump       printf 'dump-data' > "$BACKUPCTL_OUTPUT"`,
        `  verify     check that ${join(configDir, "backups", "shop.dump")} was written by this run and is not empty`,
        "",
      ].join("\n"),
    );
    expect(await Bun.file(join(configDir, "backups", "shop.dump")).exists()).toBe(false);
  });

  test("a second run of a project that is running is refused with exit 21", async () => {
    const db = await migratedDatabase();
    const { env, configDir, backupctl } = await workspace(connectionUrl(db));
    const first = Bun.spawn([process.execPath, MAIN, "run", "slow"], {
      cwd: project,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const started = join(configDir, "slow.started");
    const deadline = Date.now() + 15_000;
    while (!(await Bun.file(started).exists()) && Date.now() < deadline) await Bun.sleep(20);

    const second = await backupctl(["run", "slow"]);
    expect(second.exitCode).toBe(21);
    expect(errorLines(second.stderr)).toEqual([
      `error: a backup of slow is already running (process ${first.pid}): not starting another`,
    ]);

    await writeFile(join(configDir, "slow.go"), "");
    expect(await first.exited).toBe(0);
    const rows = await query(db, "SELECT status FROM backup_log WHERE project_name = 'slow'");
    expect(rows).toEqual([{ status: "success" }]);
  });
});

/** True while the process exists and is not a zombie (this sandbox's pid 1 may not reap). */
async function processRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

test("kill -9 of backupctl run ends the command's whole process group", async () => {
  const db = await migratedDatabase();
  const projects = `projects:
  - name: hang
    command: sleep 300 & echo "$$ $!" > pids.tmp; mv pids.tmp pids; wait
    output: hang.dump
`;
  const { env, configDir } = await workspace(connectionUrl(db), projects);
  const backupctl = Bun.spawn([process.execPath, MAIN, "run", "hang"], {
    cwd: project,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "ignore",
    stderr: "ignore",
  });
  const pidsFile = join(configDir, "pids");
  const deadline = Date.now() + 8000;
  while (!(await Bun.file(pidsFile).exists())) {
    if (Date.now() > deadline) throw new Error("the command never started");
    await Bun.sleep(20);
  }
  const pids = (await readFile(pidsFile, "utf8")).trim().split(" ").map(Number);
  expect(pids).toHaveLength(2);
  for (const pid of pids) expect(await processRunning(pid)).toBe(true);

  backupctl.kill("SIGKILL");
  expect(await backupctl.exited).toBe(137);
  const gone = Date.now() + 5000;
  while ((await Promise.all(pids.map(processRunning))).some(Boolean)) {
    if (Date.now() > gone) {
      for (const pid of pids) process.kill(pid, "SIGKILL"); // don't leave them behind
      throw new Error(`the command's processes ${pids.join(", ")} outlived backupctl`);
    }
    await Bun.sleep(20);
  }
  // The waits above are bounded (8 s, 5 s): the cleanup must run before the test times out.
}, 20_000);

describe("usage and configuration errors (exit 2, one error line)", () => {
  test.each([
    [["run"], "error: which project? give its name, or --all"],
    [["run", "nope"], 'error: unknown project "nope"'],
    [["run", "shop", "--all"], "error: give a project name or --all, not both"],
    [["run", "shop", "--dryrun"], "error: unknown option --dryrun"],
    [["status", "--last", "0"], 'error: --last must be a whole number ≥ 1 (got "0"'],
    [["logs", "Bad/Name"], 'error: "Bad/Name" is not a project name'],
    [["serve", "--port", "http"], "error: --port must be a port number"],
    [
      ["serve", "--host", "256.1.1.1"],
      'error: --host "256.1.1.1" is not an IP address or a host name',
    ],
  ])("backupctl %p", async (args, message) => {
    const { backupctl } = await workspace("postgres://u:pw@127.0.0.1:1/x");
    const result = await backupctl(args);
    expect(result.exitCode).toBe(2);
    expect(errorLines(result.stderr)).toEqual([expect.stringContaining(message)]);
  });

  test("a bad config file: every problem in one error line", async () => {
    const { backupctl } = await workspace(
      "postgres://u:pw@127.0.0.1:1/x",
      "projects:\n  - name: shop\n    comand: x\n    output: a\n    retries: -1\n  - name: shop\n    command: x\n    output: b\n",
    );
    const result = await backupctl(["run", "--all"]);
    expect(result.exitCode).toBe(2);
    expect(errorLines(result.stderr)).toEqual([
      expect.stringMatching(
        /projects\.yml: projects\[0\]: unknown key "comand" \(did you mean "command"\?\); projects\[0\]\.command is required; projects\[0\]\.retries must be a whole number ≥ 0 \(got -1\)$/,
      ),
    ]);
  });

  test("a missing config file (the default, config/projects.yml) names the variable to set", async () => {
    const { env } = await workspace("postgres://u:pw@127.0.0.1:1/x");
    const result = await run([process.execPath, MAIN, "run", "shop"], {
      cwd: project,
      env: { ...env, BACKUPCTL_CONFIG: "" },
    });
    expect(result.exitCode).toBe(2);
    expect(errorLines(result.stderr)).toEqual([
      "error: config/projects.yml not found: create it (see config/projects.example.yml) or set BACKUPCTL_CONFIG",
    ]);
  });

  test("a config file that cannot be read says why, in one line", async () => {
    const { env, configDir } = await workspace("postgres://u:pw@127.0.0.1:1/x");
    const loop = join(configDir, "loop.yml");
    await symlink(loop, loop);
    const result = await run([process.execPath, MAIN, "run", "shop"], {
      cwd: project,
      env: { ...env, BACKUPCTL_CONFIG: loop },
    });
    expect(result.exitCode).toBe(2);
    expect(errorLines(result.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^error: cannot read ${loop}: ELOOP`)),
    ]);
  });

  test("BACKUPCTL_CONFIG naming a directory says so", async () => {
    const { env, configDir } = await workspace("postgres://u:pw@127.0.0.1:1/x");
    const result = await run([process.execPath, MAIN, "run", "shop"], {
      cwd: project,
      env: { ...env, BACKUPCTL_CONFIG: configDir },
    });
    expect(result.exitCode).toBe(2);
    expect(errorLines(result.stderr)).toEqual([
      `error: ${configDir} is a directory: BACKUPCTL_CONFIG must name the config file (e.g. ${join(configDir, "projects.yml")})`,
    ]);
  });
});

describe("without the audit database", () => {
  test("run still backs up into the fallback file; the next run with the database replays it", async () => {
    const db = await migratedDatabase();
    const offline = await workspace(unreachableUrl(db));
    const result = await offline.backupctl(["run", "shop"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain(
      "warning: the audit log is unavailable: cannot connect to postgres://",
    );
    expect(result.stderr).toMatch(/shop: backed up 9 B/);
    expect(result.stderr).not.toContain(db.password);
    const fallback = join(offline.stateDir, "audit-fallback.jsonl");
    const [line] = (await readFile(fallback, "utf8")).trim().split("\n");
    const recorded = JSON.parse(line ?? "{}");
    expect(recorded).toMatchObject({ projectName: "shop", status: "success", dumpSizeBytes: 9 });

    for (const command of [["status"], ["logs", "shop"], ["health"]]) {
      const down = await offline.backupctl(command);
      expect(down.exitCode).toBe(3);
      expect(errorLines(down.stderr)).toHaveLength(1);
      expect(down.stderr + down.stdout).not.toContain(db.password);
    }

    // The same state dir, now with the database reachable.
    const online = { ...offline.env, DATABASE_URL: connectionUrl(db) };
    const next = await run([process.execPath, MAIN, "run", "shop"], { cwd: project, env: online });
    expect(next.exitCode).toBe(0);
    expect(next.stderr).toContain(`replayed 1 run(s) from ${fallback} into the audit database`);
    expect(await readFile(fallback, "utf8")).toBe("");
    const rows = await query(db, "SELECT id, status FROM backup_log ORDER BY started_at");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({ id: recorded.id, status: "success" });
  });
});

test("a fallback file that cannot be rewritten: the backup runs anyway, the replay waits", async () => {
  const db = await migratedDatabase();
  const offline = await workspace(unreachableUrl(db));
  expect((await offline.backupctl(["run", "shop"])).exitCode).toBe(0);
  const fallback = join(offline.stateDir, "audit-fallback.jsonl");
  const saved = await readFile(fallback, "utf8");
  // The replay writes the file aside, then renames it: a directory in the way makes that fail.
  await mkdir(`${fallback}.next`);
  const online = { ...offline.env, DATABASE_URL: connectionUrl(db) };
  const blocked = await run([process.execPath, MAIN, "run", "shop"], { cwd: project, env: online });
  expect(blocked.exitCode).toBe(0);
  expect(blocked.stderr).toContain(
    `warning: cannot update ${fallback}: EISDIR: illegal operation on a directory`,
  );
  expect(blocked.stderr).toContain(": its runs stay there for the next start");
  expect(await readFile(fallback, "utf8")).toBe(saved);

  await rm(`${fallback}.next`, { recursive: true });
  const next = await run([process.execPath, MAIN, "run", "shop"], { cwd: project, env: online });
  expect(next.exitCode).toBe(0);
  expect(next.stderr).toContain(`replayed 1 run(s) from ${fallback}`);
  // The run replayed twice is one row: three backups, three rows.
  expect(await query(db, "SELECT id FROM backup_log")).toHaveLength(3);
});

test("a full disk under the fallback file: the run is printed, not lost; exit 23", async () => {
  const db = await migratedDatabase();
  const offline = await workspace(unreachableUrl(db));
  await mkdir(offline.stateDir, { recursive: true });
  // Every write to /dev/full fails with ENOSPC, as on a full disk.
  await symlink("/dev/full", join(offline.stateDir, "audit-fallback.jsonl"));
  const result = await offline.backupctl(["run", "shop"]);
  expect(result.exitCode).toBe(23);
  const [error = ""] = errorLines(result.stderr);
  expect(errorLines(result.stderr)).toHaveLength(1);
  expect(error).toMatch(
    /^error: run [0-9a-f-]{36} of shop could not be recorded: the audit log is unavailable \(cannot connect to postgres:\/\/.*\) and .*audit-fallback\.jsonl cannot be written \(ENOSPC: no space left on device.*\); the run: \{/,
  );
  const recorded = JSON.parse(error.slice(error.indexOf("; the run: ") + "; the run: ".length));
  expect(recorded).toMatchObject({ projectName: "shop", status: "success", dumpSizeBytes: 9 });
  expect(result.stderr).not.toContain(db.password);
  expect(await readFile(join(offline.configDir, "backups", "shop.dump"), "utf8")).toBe("dump-data");
});

describe("backupctl health", () => {
  test("exit 0 when healthy, 5 with pending migrations, and the same JSON as GET /health", async () => {
    const healthy = await (await workspace(connectionUrl(await migratedDatabase()))).backupctl([
      "health",
    ]);
    expect(healthy).toMatchObject({ exitCode: 0, stdout: "database    ok\nmigrations  ok\n" });

    const behind = await workspace(connectionUrl(await migratedDatabase(2)));
    const pending = await behind.backupctl(["health", "--json"]);
    expect(pending.exitCode).toBe(5);
    expect(JSON.parse(pending.stdout)).toEqual({
      status: "unhealthy",
      checks: {
        database: { ok: true },
        migrations: { ok: false, pending: migrations.slice(2).map((m) => m.name) },
      },
    });
    expect(errorLines(pending.stderr)).toEqual([
      "error: unhealthy: 1 migration(s) pending: run the migrator",
    ]);
  });
});

describe("backupctl serve", () => {
  test("recovers a crashed run at start, serves /health and /status, stops on SIGTERM", async () => {
    const db = await migratedDatabase();
    const orphan = crypto.randomUUID();
    await query(
      db,
      `INSERT INTO backup_log (id, project_name, status, current_stage, started_at)
       VALUES ($1, 'shop', 'started', 'dump', now() - interval '2 days')`,
      [orphan],
    );
    const { env } = await workspace(connectionUrl(db));
    const server = Bun.spawn(
      [process.execPath, MAIN, "serve", "--port", "0", "--host", "127.0.0.1"],
      {
        cwd: project,
        env: { PATH: process.env.PATH ?? "", ...env },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    try {
      const stderr = await readUntil(server.stderr, /listening on (http:\/\/\S+)/);
      expect(stderr).toContain(`warning: run ${orphan} of shop`);
      const base = /listening on (http:\/\/\S+)/.exec(stderr)?.[1] ?? "";

      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      const status = (await (await fetch(`${base}/status`)).json()) as {
        projects: { project: string; lastRun: { errorMessage: string } }[];
      };
      expect(status.projects[0]).toMatchObject({
        project: "shop",
        lastRun: { id: orphan, status: "failed", errorStage: "dump" },
      });
      expect(status.projects[0]?.lastRun.errorMessage).toStartWith("crash_recovery: ");
    } finally {
      server.kill("SIGTERM");
    }
    expect(await server.exited).toBe(0);
  });
});

describe("backupctl serve cannot listen (exit 22, one error line)", () => {
  test("the port is in use", async () => {
    const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    try {
      const { backupctl } = await workspace("postgres://u:pw@127.0.0.1:1/x");
      const result = await backupctl(["serve", "--host", "127.0.0.1", "--port", `${busy.port}`]);
      expect(result.exitCode).toBe(22);
      expect(errorLines(result.stderr)).toEqual([
        `error: cannot listen on 127.0.0.1:${busy.port}: port ${busy.port} is in use on 127.0.0.1: stop what listens there, or choose another --port`,
      ]);
      // It failed before touching the database: no connection error was reported.
      expect(result.stderr).not.toContain("audit log");
    } finally {
      await busy.stop(true);
    }
  });

  test("the address is not one of this machine", async () => {
    const { backupctl } = await workspace("postgres://u:pw@127.0.0.1:1/x");
    // 192.0.2.0/24 is reserved for documentation (RFC 5737): no machine has it.
    const result = await backupctl(["serve", "--host", "192.0.2.1", "--port", "0"]);
    expect(result.exitCode).toBe(22);
    expect(errorLines(result.stderr)).toEqual([
      "error: cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine: choose another --host (0.0.0.0: every address)",
    ]);
  });
});

/** Reads a child's stream until `pattern` shows up; returns everything read so far. */
async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 20_000;
  while (!pattern.test(text)) {
    if (Date.now() > deadline) throw new Error(`never saw ${pattern} in:\n${text}`);
    const { done, value } = await reader.read();
    if (done) throw new Error(`the process ended without ${pattern}:\n${text}`);
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

test("backup commands never see the audit database's credentials", async () => {
  const db = await migratedDatabase();
  const projects = `projects:
  - name: peek
    command: printf '%s|%s|%s' "\${DATABASE_URL:-none}" "\${AUDIT_DB_PASSWORD:-none}" "$BACKUPCTL_PROJECT" > "$BACKUPCTL_OUTPUT"
    output: peek.out
`;
  const { backupctl, configDir } = await workspace(connectionUrl(db), projects);
  const result = await run([process.execPath, MAIN, "run", "peek"], {
    cwd: project,
    env: {
      DATABASE_URL: connectionUrl(db),
      AUDIT_DB_PASSWORD: "not-for-commands",
      BACKUPCTL_CONFIG: join(configDir, "projects.yml"),
      BACKUPCTL_STATE_DIR: join(configDir, "..", "state"),
    },
  });
  expect(result.exitCode).toBe(0);
  expect(await readFile(join(configDir, "peek.out"), "utf8")).toBe("none|none|peek");
  expect((await backupctl(["status", "peek", "--json"])).exitCode).toBe(0);
});
