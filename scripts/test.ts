#!/usr/bin/env bun
/**
 * `bun run test`: makes sure the system tools the tests drive are on this machine, then runs
 * `bun test`. Tests never skip for a missing tool: what is missing is installed from Debian
 * (as root, with apt-get), or named in one error line.
 *
 * Arguments go to `bun test` (e.g. `bun run test tests/unit`). `bun run test --update-timings`
 * rewrites tests/timings.json, the per-file durations that make the workers start the slowest
 * files first (a run that ends on one long file leaves the other workers idle).
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../src/cli/exit-codes.ts";
import { PROJECT_ROOT } from "../src/db/paths.ts";
import { startTestServer } from "../tests/support/test-server-handle.ts";

/**
 * CPU the server's processes used so far, in ms (Linux; NaN elsewhere), for `bun run bench`: the
 * server runs detached, so the suite's own resource usage leaves it out. Backends that ended are
 * counted through the postmaster's children times.
 */
async function serverCpuMs(dataDir: string): Promise<number> {
  try {
    const pid = (await Bun.file(join(dataDir, "postmaster.pid")).text()).split("\n")[0];
    const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]?.split(" ") ?? [];
    // utime, stime, cutime, cstime in clock ticks of 10 ms (USER_HZ is 100 on Linux).
    return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * 10;
  } catch {
    return Number.NaN;
  }
}

interface Requirement {
  /** Debian package that provides it. */
  pkg: string;
  why: string;
  present(): boolean;
}

/** The server of pg_dump's own major version: pg_dump refuses to dump a newer server. */
function pgDumpMajor(): string | undefined {
  if (!Bun.which("pg_dump")) return undefined;
  const version = Bun.spawnSync(["pg_dump", "--version"]).stdout.toString();
  return /(\d+)/.exec(version)?.[1];
}

const REQUIREMENTS: Requirement[] = [
  {
    pkg: "postgresql-client",
    why: "psql and pg_dump (bun run dev psql, ./manage backup-db)",
    present: () => Boolean(Bun.which("psql") && Bun.which("pg_dump")),
  },
  {
    pkg: "docker-compose",
    why: "validating the compose files without a Docker engine",
    present: () => Boolean(Bun.which("docker-compose")),
  },
  { pkg: "git", why: "./manage upgrade pulls with git", present: () => Boolean(Bun.which("git")) },
  {
    pkg: "util-linux",
    why: "script(1) gives ./manage a terminal to ask on",
    present: () => Boolean(Bun.which("script")),
  },
  {
    pkg: "postgresql",
    why: "a PostgreSQL server of pg_dump's major version for the backup tests",
    present: () => {
      const major = pgDumpMajor();
      return major !== undefined && existsSync(`/usr/lib/postgresql/${major}/bin/postgres`);
    },
  },
];

function install(packages: string[]): boolean {
  if (userInfo().uid !== 0 || !Bun.which("apt-get")) return false;
  console.error(`installing from Debian for the tests: ${packages.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = Bun.spawnSync(["apt-get", "update", "-qq"], {
    stdout: "inherit",
    stderr: "inherit",
    env,
  });
  if (update.exitCode !== 0) return false;
  const args = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages];
  return Bun.spawnSync(args, { stdout: "inherit", stderr: "inherit", env }).exitCode === 0;
}

// One at a time: postgresql-client decides which server major version is needed.
for (const requirement of REQUIREMENTS) {
  if (requirement.present()) continue;
  if (!install([requirement.pkg]) || !requirement.present()) {
    console.error(
      `error: the tests need ${requirement.pkg} (${requirement.why}): apt-get install ${requirement.pkg}`,
    );
    process.exit(EXIT_CODES.usage);
  }
}

// One PostgreSQL for every test worker, started here: a worker would otherwise start its own.
// The tests find it through TEST_PG_* (tests/support/server.ts).
const server = await startTestServer();
// Files run in parallel workers (one module registry each, so one server connection setup per
// worker): the tests mostly wait on child processes and the server, so 2 cores keep 3 busy.
const tests = Bun.spawn(
  [
    process.execPath,
    "test",
    "--timeout",
    "60000",
    `--parallel=${process.env.TEST_WORKERS ?? "3"}`,
    "--no-isolate",
    `--timings=${join(PROJECT_ROOT, "tests", "timings.json")}`,
    ...process.argv.slice(2),
  ],
  // process.env explicitly: Bun.spawn's default is the environment this process started with.
  { stdio: ["inherit", "inherit", "inherit"], env: process.env },
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => tests.kill(signal));
}
const exitCode = await tests.exited;
const serverCpuFile = process.env.BACKUPCTL_BENCH_SERVER_CPU;
if (serverCpuFile) await Bun.write(serverCpuFile, String(await serverCpuMs(server.dataDir)));
await server.destroy();
process.exit(exitCode);
