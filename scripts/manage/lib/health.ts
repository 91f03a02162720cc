import { ManageError } from "../../../src/cli/errors.ts";
import { out } from "../../../src/cli/output.ts";
import { pollUntil } from "../../../src/lib/poll.ts";
import { type ContainerState, composeArgs, serviceContainer } from "./compose.ts";
import type { ManageContext } from "./context.ts";
import { errorSummary, type ManageShell, mustSucceed } from "./shell.ts";

export interface HealthWait {
  timeoutMs: number;
  intervalMs: number;
}

/** How often an unchanged status is repeated while waiting. */
const PROGRESS_EVERY_MS = 5000;

/**
 * Waits until the service's container reports `healthy` (its compose healthcheck: pg_isready for
 * the database, `backupctl health` for the app), polling `docker compose ps`. Fails at once when
 * the container is missing, has exited or is `unhealthy` (docker says so only after the
 * healthcheck's retries), and after the timeout otherwise. Says what it sees when it changes and
 * every few seconds.
 */
export async function waitHealthy(
  exec: ManageShell,
  ctx: ManageContext,
  service: string,
  wait: HealthWait,
): Promise<void> {
  if (exec.dryRun) {
    await exec.exec("docker", composeArgs(ctx, "ps", "--all", "--format", "json", service), {
      kind: "query",
    });
    exec.note(
      `repeated every ${wait.intervalMs / 1000} s until ${service} is healthy, for at most ${wait.timeoutMs / 1000} s`,
    );
    return;
  }
  let last = "";
  let lastPrinted = 0;
  let status = "";
  await pollUntil(
    async (elapsed) => {
      const { container, exitCode, stderr } = await serviceContainer(exec, ctx, service);
      const seconds = Math.round(elapsed / 1000);
      if (exitCode !== 0) {
        throw new ManageError(
          "unhealthy",
          `cannot read the state of ${service}: ${errorSummary(stderr)}`,
        );
      }
      status = describe(container);
      if (container?.state === "running" && (container.health === "healthy" || !container.health)) {
        out.success(`${service} is healthy (${seconds} s)`);
        return true;
      }
      const fatal = fatalState(container);
      if (fatal) {
        throw new ManageError("unhealthy", `${service} ${fatal} (see ./manage logs ${service})`);
      }
      if (status !== last || Date.now() - lastPrinted >= PROGRESS_EVERY_MS) {
        out.progress(`waiting for ${service} to be healthy: ${status} (${seconds} s)`);
        last = status;
        lastPrinted = Date.now();
      }
      return undefined;
    },
    {
      ...wait,
      onTimeout: () => {
        throw new ManageError(
          "unhealthy",
          `${service} did not become healthy within ${wait.timeoutMs / 1000} s (last status: ${status}; see ./manage logs ${service})`,
        );
      },
    },
  );
}

function describe(container: ContainerState | undefined): string {
  if (!container) return "no container";
  return container.health ? `${container.state}, ${container.health}` : container.state;
}

function fatalState(container: ContainerState | undefined): string | undefined {
  if (!container) return "has no container (it was never started)";
  if (container.state === "exited" || container.state === "dead") {
    return `has stopped (${container.state}, exit code ${container.exitCode})`;
  }
  if (container.health === "unhealthy") {
    return "is unhealthy: its healthcheck failed repeatedly";
  }
  return undefined;
}

/** Starts a service from the images already built (`up -d --no-build`) and waits until healthy. */
export async function startHealthy(
  exec: ManageShell,
  ctx: ManageContext,
  service: string,
  wait: HealthWait,
): Promise<void> {
  await mustSucceed(
    exec,
    "docker",
    composeArgs(ctx, "up", "-d", "--no-build", service),
    `docker compose up ${service}`,
  );
  await waitHealthy(exec, ctx, service, wait);
}
