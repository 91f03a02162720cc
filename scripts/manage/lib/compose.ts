import { ManageError } from "../../../src/cli/errors.ts";
import { type ManageContext, MIGRATE_PROFILE } from "./context.ts";
import { errorSummary, type ManageShell } from "./shell.ts";

/**
 * Arguments for `docker compose` on this checkout: always `-f <root>/docker-compose.yml`, so the
 * project directory (and the `.env` compose reads) is the checkout wherever `./manage` is typed.
 * No `--project-name`: compose's own rule stays in force (COMPOSE_PROJECT_NAME, else the folder
 * name), so an existing deployment keeps its containers and its audit-db-data volume.
 */
export function composeArgs(ctx: ManageContext, ...args: string[]): string[] {
  return ["compose", "-f", ctx.composeFile, ...args];
}

/** The same, with the `migrate` profile on: the only way the migrator service exists. */
export function composeWithMigrator(ctx: ManageContext, ...args: string[]): string[] {
  return composeArgs(ctx, "--profile", MIGRATE_PROFILE, ...args);
}

/** One container as `docker compose ps --format json` describes it. */
export interface ContainerState {
  id: string;
  service: string;
  /** created, running, restarting, exited, dead, … */
  state: string;
  /** healthy, unhealthy, starting, or "" when the service has no healthcheck. */
  health: string;
  exitCode: number;
}

/** Compose v2 prints one JSON object per line (older v2 releases: one JSON array). */
export function parsePs(stdout: string): ContainerState[] {
  const text = stdout.trim();
  if (!text) return [];
  const rows: Record<string, unknown>[] = text.startsWith("[")
    ? JSON.parse(text)
    : text.split("\n").map((line) => JSON.parse(line));
  return rows.map((row) => ({
    id: String(row.ID ?? ""),
    service: String(row.Service ?? ""),
    state: String(row.State ?? ""),
    health: String(row.Health ?? ""),
    exitCode: Number(row.ExitCode ?? 0),
  }));
}

/** `docker compose ps --all --format json <service>`: the service's container, if it has one. */
export async function serviceContainer(
  exec: ManageShell,
  ctx: ManageContext,
  service: string,
): Promise<{ container?: ContainerState; exitCode: number; stderr: string }> {
  const result = await exec.exec(
    "docker",
    composeArgs(ctx, "ps", "--all", "--format", "json", service),
    {
      kind: "query",
      placeholder: JSON.stringify({
        ID: `<container of ${service}>`,
        Service: service,
        State: "running",
        Health: "healthy",
      }),
    },
  );
  if (result.exitCode !== 0) return { exitCode: result.exitCode, stderr: result.stderr };
  let containers: ContainerState[];
  try {
    containers = parsePs(result.stdout);
  } catch {
    return { exitCode: 1, stderr: `unexpected output of docker compose ps: ${result.stdout}` };
  }
  return {
    container: containers.find((c) => c.service === service) ?? containers[0],
    exitCode: 0,
    stderr: "",
  };
}

/** Fails with exit 3 and one line unless the Docker engine answers. */
export async function requireDocker(exec: ManageShell): Promise<void> {
  const result = await exec.exec("docker", ["version", "--format", "{{.Server.Version}}"], {
    kind: "query",
    placeholder: "<version>",
  });
  if (result.exitCode === 127) {
    throw new ManageError("connect", "docker is not installed (not found on PATH)");
  }
  if (result.exitCode !== 0) {
    throw new ManageError(
      "connect",
      `the Docker engine does not answer: ${errorSummary(result.stderr)} (is the docker service running, and may this user use it?)`,
    );
  }
}
