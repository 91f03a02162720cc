/**
 * The `docker` stand-in itself (see fake-docker.ts). Logs its argv, then answers like docker
 * would for the commands `./manage` runs, from the scenario and the state files.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import type { FakeDockerScenario, FakeState, HealthStatus, ScriptedResult } from "./fake-docker.ts";

const argv = process.argv.slice(2);
const env = process.env;
const log = env.FAKE_DOCKER_LOG as string;
const stateFile = env.FAKE_DOCKER_STATE as string;
appendFileSync(log, `${JSON.stringify(argv)}\n`);
const scenario = JSON.parse(
  readFileSync(env.FAKE_DOCKER_SCENARIO as string, "utf8"),
) as FakeDockerScenario;
const state = JSON.parse(readFileSync(stateFile, "utf8")) as FakeState;

const APP_IMAGE = "backupctl:latest";
const MIGRATOR_IMAGE = "backupctl-migrator:latest";
const DUMP =
  "--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

function finish(result: ScriptedResult): never {
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.stderr) process.stderr.write(result.stderr);
  process.exit(result.exitCode);
}

function save(): void {
  writeFileSync(stateFile, JSON.stringify(state));
}

function containsInOrder(haystack: string[], needles: string[]): boolean {
  let at = 0;
  for (const item of haystack) if (item === needles[at]) at++;
  return at === needles.length;
}

/** The calls so far, this one included. */
function calls(): string[][] {
  return readFileSync(log, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

/**
 * The service's health now: its container's start number (running at the beginning counts as
 * the first start, each `compose up` of it as one more) picks the sequence, and the number of
 * `ps` calls since that start picks the entry.
 */
function healthOf(service: string): HealthStatus {
  const script = scenario.health?.[service] ?? ["healthy"];
  const perStart = (Array.isArray(script[0]) ? script : [script]) as HealthStatus[][];
  let starts = scenario.running?.includes(service) ? 1 : 0;
  let polls = 0;
  for (const call of calls()) {
    if (call[0] !== "compose" || call.at(-1) !== service) continue;
    if (call.includes("up")) {
      starts++;
      polls = 0;
    } else if (call.includes("ps")) polls++;
  }
  const sequence = perStart[Math.min(Math.max(starts, 1), perStart.length) - 1] ?? ["healthy"];
  return sequence[Math.min(Math.max(polls, 1), sequence.length) - 1] ?? "healthy";
}

function psRow(service: string): string {
  const status = healthOf(service);
  const row = {
    ID: `cid-${service}`,
    Name: `backupctl-${service}-1`,
    Service: service,
    State: status === "exited" ? "exited" : "running",
    Health: status === "running" || status === "exited" ? "" : status,
    ExitCode: status === "exited" ? 1 : 0,
  };
  return JSON.stringify(row);
}

async function passThrough(command: string[]): Promise<never> {
  const child = Bun.spawn(command, {
    stdio: ["inherit", "inherit", "inherit"],
    env: { ...env, ...scenario.passThrough },
  });
  process.exit(await child.exited);
}

async function main(): Promise<void> {
  for (const rule of scenario.fail ?? []) {
    if (containsInOrder(argv, rule.match)) finish(rule);
  }
  const [command] = argv;
  if (command === "version") {
    if (scenario.engine === false) {
      finish({
        exitCode: 1,
        stdout: "Client:\n Version: 28.2.2\n",
        stderr:
          "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
      });
    }
    finish({ exitCode: 0, stdout: "28.2.2\n" });
  }
  if (command === "compose") {
    if (scenario.compose === false) {
      finish({ exitCode: 1, stderr: "docker: 'compose' is not a docker command.\n" });
    }
    return composeCommand(argv.slice(1));
  }
  if (command === "image" && argv[1] === "inspect") {
    const id = state.images[argv.at(-1) as string];
    if (!id) finish({ exitCode: 1, stderr: `Error: No such image: ${argv.at(-1)}\n` });
    finish({ exitCode: 0, stdout: `${id}\n` });
  }
  if (command === "image" && argv[1] === "tag") {
    const [source, target] = argv.slice(2) as [string, string];
    const id = source.startsWith("sha256:") ? source : state.images[source];
    if (!id)
      finish({ exitCode: 1, stderr: `Error response from daemon: No such image: ${source}\n` });
    state.images[target] = id;
    save();
    finish({ exitCode: 0 });
  }
  if (command === "inspect") {
    const service = (argv.at(-1) as string).replace(/^cid-/, "");
    const container = state.containers[service];
    if (!container) finish({ exitCode: 1, stderr: `Error: No such object: ${argv.at(-1)}\n` });
    finish({ exitCode: 0, stdout: `${container.image}\n` });
  }
  finish({ exitCode: 1, stderr: `fake docker: unexpected command: ${argv.join(" ")}\n` });
}

async function composeCommand(args: string[]): Promise<void> {
  // Leave out compose's own `-f <file>` and `--profile <name>`, before the subcommand.
  let at = 0;
  while (args[at] === "-f" || args[at] === "--profile") at += 2;
  const rest = args.slice(at);
  const [sub] = rest;
  if (sub === "version") finish({ exitCode: 0, stdout: "2.29.1\n" });
  if (sub === "config") {
    if (scenario.configError) finish({ exitCode: 15, stderr: `${scenario.configError}\n` });
    finish({ exitCode: 0 });
  }
  if (sub === "build") {
    const result = scenario.build ?? { exitCode: 0, stderr: "#1 building backupctl\n#2 DONE\n" };
    if (result.exitCode === 0) {
      state.images[APP_IMAGE] = "sha256:new-app";
      state.images[MIGRATOR_IMAGE] = "sha256:new-migrator";
      save();
    }
    finish(result);
  }
  if (sub === "up") {
    const service = rest.at(-1) as string;
    state.containers[service] = {
      image: service === "backupctl" ? (state.images[APP_IMAGE] as string) : "sha256:db",
    };
    save();
    finish({ exitCode: 0, stderr: ` Container backupctl-${service}-1  Started\n` });
  }
  if (sub === "ps") {
    const service = rest.at(-1) as string;
    if (service === "json") {
      // All services.
      finish({
        exitCode: 0,
        stdout: Object.keys(state.containers)
          .map((s) => `${psRow(s)}\n`)
          .join(""),
      });
    }
    finish({ exitCode: 0, stdout: state.containers[service] ? `${psRow(service)}\n` : "" });
  }
  if (sub === "run") {
    const after = rest.slice(rest.indexOf("migrator") + 1);
    if (after[0] === "show") {
      finish(
        scenario.migratorShow ?? {
          exitCode: 0,
          stdout: JSON.stringify({
            migrations: [
              { name: "CreateBackupLogTable1710720000000", applied: true },
              { name: "AddBackupTypeToBackupLog1742467200000", applied: false },
            ],
            applied: 1,
            pending: 1,
          }),
        },
      );
    }
    finish(
      scenario.migrator ?? {
        exitCode: 0,
        stderr: "Applied AddBackupTypeToBackupLog1742467200000 (12 ms)\n",
      },
    );
  }
  if (sub === "exec") {
    const tool = rest.findIndex((a) => ["pg_dump", "psql", "pg_restore", "sh"].includes(a));
    const command = rest.slice(tool);
    if (command[0] === "sh") finish({ exitCode: 0, stdout: "fake shell\n" });
    if (scenario.passThrough) return passThrough(command);
    if (command[0] === "pg_dump") finish(scenario.pgDump ?? { exitCode: 0, stdout: DUMP });
    if (command[0] === "psql") {
      await Bun.stdin.text();
      finish(scenario.psql ?? { exitCode: 0 });
    }
  }
  if (sub === "logs")
    finish({ exitCode: 0, stdout: "backupctl-1  | listening on http://0.0.0.0:8080\n" });
  finish({ exitCode: 1, stderr: `fake docker: unexpected compose command: ${rest.join(" ")}\n` });
}

await main();
