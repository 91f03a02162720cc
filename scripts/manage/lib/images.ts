import { ManageError } from "../../../src/cli/errors.ts";
import { out } from "../../../src/cli/output.ts";
import { serviceContainer } from "./compose.ts";
import { type ManageContext, SERVICES, withTag } from "./context.ts";
import { type HealthWait, startHealthy } from "./health.ts";
import { type ManageShell, mustSucceed } from "./shell.ts";

/**
 * The images a rollback returns to. Before an upgrade builds, the image the running app
 * container was created from and the current migrator image are tagged `:previous`; a rollback
 * tags them `:latest` again and recreates the app container without building.
 */

export const PREVIOUS = "previous";

/** The image ID of an image name, or undefined when there is no such image. */
export async function imageId(
  exec: ManageShell,
  image: string,
  placeholder = `<image id of ${image}>`,
): Promise<string | undefined> {
  const result = await exec.exec("docker", ["image", "inspect", "--format", "{{.Id}}", image], {
    kind: "query",
    placeholder,
  });
  return result.exitCode === 0 ? result.stdout.trim() || undefined : undefined;
}

/** The image ID the running app container was created from (not whatever :latest is now). */
export async function runningAppImage(
  exec: ManageShell,
  ctx: ManageContext,
): Promise<string | undefined> {
  const { container } = await serviceContainer(exec, ctx, SERVICES.app);
  if (!container?.id || container.state !== "running") return undefined;
  const result = await exec.exec("docker", ["inspect", "--format", "{{.Image}}", container.id], {
    kind: "query",
    placeholder: `<image id of the running ${SERVICES.app} container>`,
  });
  return result.exitCode === 0 ? result.stdout.trim() || undefined : undefined;
}

/** Tags an image ID as the `:previous` of an image name. */
export async function tagPrevious(exec: ManageShell, id: string, image: string): Promise<void> {
  await mustSucceed(
    exec,
    "docker",
    ["image", "tag", id, withTag(image, PREVIOUS)],
    "docker image tag",
  );
}

/**
 * Puts the `:previous` images back as `:latest`, recreates the app container from them (no
 * build) and waits for its health. Throws rollbackFailed when that does not work.
 */
export async function rollBack(
  exec: ManageShell,
  ctx: ManageContext,
  wait: HealthWait,
): Promise<void> {
  const previousApp = withTag(ctx.images.app, PREVIOUS);
  if (!(await imageId(exec, previousApp))) {
    throw new ManageError(
      "unhealthy",
      `there is no ${previousApp} image to roll back to (./manage upgrade tags it before it builds)`,
    );
  }
  try {
    await mustSucceed(
      exec,
      "docker",
      ["image", "tag", previousApp, ctx.images.app],
      "docker image tag",
    );
    const previousMigrator = withTag(ctx.images.migrator, PREVIOUS);
    if (await imageId(exec, previousMigrator)) {
      await mustSucceed(
        exec,
        "docker",
        ["image", "tag", previousMigrator, ctx.images.migrator],
        "docker image tag",
      );
    } else if (!exec.dryRun) {
      out.warn(`no ${previousMigrator} image: ${ctx.images.migrator} stays the new one`);
    }
    await startHealthy(exec, ctx, SERVICES.app, wait);
  } catch (error) {
    if (!(error instanceof ManageError)) throw error;
    throw new ManageError("rollbackFailed", `the rollback failed too: ${error.message}`, {
      cause: error,
    });
  }
}
