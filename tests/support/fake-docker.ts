import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { type ProcessResult, run } from "./project.ts";

/**
 * A recording stand-in for `docker`, for testing `./manage` on machines with no Docker engine.
 * `fakeDocker()` writes a `docker` executable into a fresh bin directory (put it first on PATH):
 * every call appends its argv as one JSON line to a log, and is answered from a scenario (see
 * fake-docker-cli.ts for what each command answers). Images and containers are kept in a state
 * file, so `image tag`, `compose build` and `compose up` change what later calls see: a test can
 * check which image the app container runs after a rollback.
 */

export type HealthStatus = "healthy" | "starting" | "unhealthy" | "exited" | "running";

export interface ScriptedResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export interface FakeDockerScenario {
  /** `docker version`: whether the engine answers (default true). */
  engine?: boolean;
  /** Whether `docker compose` exists (default true). */
  compose?: boolean;
  /** `docker compose config --quiet` fails with this message. */
  configError?: string;
  /**
   * What `docker compose ps` says of a service's health: one entry per call since the container
   * started (the last one repeats). A list of such lists gives one per start: a container
   * running at the beginning is the first start, each `compose up` of the service one more.
   * Default: healthy.
   */
  health?: Record<string, HealthStatus[] | HealthStatus[][]>;
  /** Services that have a container at the start (default: none, as on a new server). */
  running?: string[];
  /** Images at the start, name → id (default: backupctl:latest and backupctl-migrator:latest). */
  images?: Record<string, string>;
  build?: ScriptedResult;
  /** `compose … run … migrator [run]`. */
  migrator?: ScriptedResult;
  /** `compose … run … migrator show …`. */
  migratorShow?: ScriptedResult;
  /** `compose exec … pg_dump` when not passed through (default: a tiny complete dump). */
  pgDump?: ScriptedResult;
  /** `compose exec … psql` when not passed through (default: reads stdin, exit 0). */
  psql?: ScriptedResult;
  /**
   * Run the PostgreSQL client tools of `compose exec <db> …` for real, with these libpq
   * variables standing in for the database container's own environment.
   */
  passThrough?: { PGHOST: string; PGPORT: string; PGPASSWORD: string };
  /** Any call whose argv contains all of `match` (in order) gets this answer instead. */
  fail?: (ScriptedResult & { match: string[] })[];
}

export interface FakeState {
  images: Record<string, string>;
  containers: Record<string, { image: string }>;
}

export interface FakeDocker {
  binDir: string;
  /** PATH (the fake first) and the variables the fake reads. */
  env: Record<string, string>;
  /** The argv of every call so far, in order. */
  calls(): Promise<string[][]>;
  state(): Promise<FakeState>;
}

export const DEFAULT_IMAGES = {
  "backupctl:latest": "sha256:old-app",
  "backupctl-migrator:latest": "sha256:old-migrator",
};

export async function fakeDocker(scenario: FakeDockerScenario = {}): Promise<FakeDocker> {
  const dir = join(tmpdir(), `backupctl-fake-docker-${randomBytes(5).toString("hex")}`);
  const binDir = join(dir, "bin");
  await mkdir(binDir, { recursive: true });
  const log = join(dir, "calls.jsonl");
  const stateFile = join(dir, "state.json");
  const scenarioFile = join(dir, "scenario.json");
  const images = scenario.images ?? DEFAULT_IMAGES;
  const containers: FakeState["containers"] = {};
  for (const service of scenario.running ?? []) {
    containers[service] = {
      image:
        service === "backupctl" ? (images["backupctl:latest"] ?? "sha256:old-app") : "sha256:db",
    };
  }
  await writeFile(log, "");
  await writeFile(stateFile, JSON.stringify({ images: { ...images }, containers }));
  await writeFile(scenarioFile, JSON.stringify(scenario));
  const cli = join(import.meta.dir, "fake-docker-cli.ts");
  const docker = join(binDir, "docker");
  await writeFile(docker, `#!/bin/sh\nexec '${process.execPath}' '${cli}' "$@"\n`);
  await chmod(docker, 0o755);
  return {
    binDir,
    env: {
      PATH: [binDir, dirname(process.execPath), process.env.PATH ?? ""].join(":"),
      FAKE_DOCKER_LOG: log,
      FAKE_DOCKER_STATE: stateFile,
      FAKE_DOCKER_SCENARIO: scenarioFile,
    },
    calls: async () =>
      (await Bun.file(log).text())
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as string[]),
    state: async () => JSON.parse(await Bun.file(stateFile).text()) as FakeState,
  };
}

/** A call as one line, for comparing orders of operations: `compose up -d --no-build backupctl`. */
export function describeCall(argv: string[]): string {
  const args = [...argv];
  // `compose -f /tmp/…/docker-compose.yml` is the same in every call: leave it out.
  const f = args.indexOf("-f");
  if (args[0] === "compose" && f === 1) args.splice(1, 2);
  return args.join(" ");
}

/**
 * A server checkout in a temp folder, as `./manage setup` and an operator leave it: the compose
 * file, .env.example, a .env (mode 600) with its own password, config/projects.yml, backups/.
 */
export async function serverCheckout(
  env: Record<string, string> = {},
  { withEnv = true }: { withEnv?: boolean } = {},
): Promise<string> {
  const root = PROJECT_ROOT;
  const dir = join(tmpdir(), `backupctl-server-${randomBytes(5).toString("hex")}`);
  await mkdir(join(dir, "config"), { recursive: true });
  await mkdir(join(dir, "backups"), { recursive: true });
  await writeFile(
    join(dir, "docker-compose.yml"),
    await Bun.file(join(root, "docker-compose.yml")).text(),
  );
  const example = await Bun.file(join(root, ".env.example")).text();
  await writeFile(join(dir, ".env.example"), example);
  await writeFile(join(dir, "config", "projects.yml"), "projects: []\n");
  if (withEnv) {
    const values = { AUDIT_DB_PASSWORD: "s3cret-Server-pw", NODE_ENV: "production", ...env };
    let text = example;
    for (const [key, value] of Object.entries(values)) {
      const line = new RegExp(`^${key}=.*$`, "m");
      text = line.test(text) ? text.replace(line, `${key}=${value}`) : `${text}\n${key}=${value}\n`;
    }
    await writeFile(join(dir, ".env"), text, { mode: 0o600 });
    await chmod(join(dir, ".env"), 0o600);
  }
  return dir;
}

export type ManageResult = ProcessResult;

/** Runs the `manage` executable (its shebang, its imports) with the fake docker first on PATH. */
export async function manage(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<ManageResult> {
  return run([join(PROJECT_ROOT, "manage"), ...args], {
    cwd: options.cwd ?? tmpdir(),
    stdin: options.stdin,
    env: {
      PATH: [dirname(process.execPath), process.env.PATH ?? ""].join(":"),
      NO_COLOR: "1",
      ...options.env,
    },
  });
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.invalid",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
};

export function git(cwd: string, ...args: string[]): string {
  const result = Bun.spawnSync(["git", ...args], {
    cwd,
    env: { ...process.env, ...GIT_ENV },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    throw new Error(`git ${args.join(" ")} failed: ${result.stderr.toString()}`);
  }
  return result.stdout.toString().trim();
}

export interface GitServer {
  /** The server's checkout (a clone of origin) with .env, config/projects.yml and backups/. */
  dir: string;
  /** Another clone, where "the developers" commit and push. */
  dev: string;
  /** Commits a file in the dev clone and pushes it to origin; returns the new revision. */
  publish(file: string, content: string): string;
}

/** A bare origin, a developer clone that pushed the project's deploy files, and a server clone. */
export async function gitServer(): Promise<GitServer> {
  const template = await serverCheckout();
  const base = join(tmpdir(), `backupctl-git-${randomBytes(5).toString("hex")}`);
  const origin = join(base, "origin.git");
  const dev = join(base, "dev");
  const dir = join(base, "server");
  await mkdir(base, { recursive: true });
  git(base, "init", "--quiet", "--bare", "--initial-branch=main", origin);
  git(base, "clone", "--quiet", origin, dev);
  for (const file of ["docker-compose.yml", ".env.example"]) {
    await writeFile(join(dev, file), await Bun.file(join(template, file)).text());
  }
  await writeFile(join(dev, ".gitignore"), ".env\n");
  git(dev, "add", ".");
  git(dev, "commit", "--quiet", "-m", "initial");
  git(dev, "push", "--quiet", "origin", "HEAD:main");
  git(base, "clone", "--quiet", "--branch", "main", origin, dir);
  await mkdir(join(dir, "config"), { recursive: true });
  await mkdir(join(dir, "backups"), { recursive: true });
  await writeFile(join(dir, "config", "projects.yml"), "projects: []\n");
  await writeFile(join(dir, ".env"), await Bun.file(join(template, ".env")).text(), {
    mode: 0o600,
  });
  await chmod(join(dir, ".env"), 0o600);
  return {
    dir,
    dev,
    publish(file, content) {
      writeFileSync(join(dev, file), content);
      git(dev, "add", file);
      git(dev, "commit", "--quiet", "-m", `change ${file}`);
      git(dev, "push", "--quiet", "origin", "HEAD:main");
      return git(dev, "rev-parse", "HEAD");
    },
  };
}
