import { ManageError } from "../../../src/cli/errors.ts";
import { composeWithMigrator } from "./compose.ts";
import { type ManageContext, SERVICES } from "./context.ts";
import { errorSummary, type ManageShell } from "./shell.ts";

/**
 * Applies the pending migrations with the migrator service, the way the README shows it:
 * `docker compose --profile migrate run --rm --build migrator`. Its output is shown as it comes;
 * a failure carries the migrator's own error line.
 */
export async function runMigrator(exec: ManageShell, ctx: ManageContext): Promise<void> {
  const result = await exec.exec(
    "docker",
    composeWithMigrator(ctx, "run", "--rm", "--build", SERVICES.migrator),
    { output: "stream" },
  );
  if (result.exitCode !== 0) {
    throw new ManageError(
      "migrationFailed",
      `the migrator failed (exit ${result.exitCode}): ${errorSummary(result.stderr || result.stdout)}`,
    );
  }
}
