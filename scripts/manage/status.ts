import { basename } from "node:path";
import { defineCommand } from "citty";
import { ManageError } from "../../src/cli/errors.ts";
import { formatBytes } from "../../src/cli/format-bytes.ts";
import { out } from "../../src/cli/output.ts";
import { dirArg } from "./lib/args.ts";
import { listBackups } from "./lib/backup.ts";
import { composeArgs, composeWithMigrator, parsePs, requireDocker } from "./lib/compose.ts";
import { loadContext, SERVICES } from "./lib/context.ts";
import { errorSummary, ManageShell } from "./lib/shell.ts";

interface MigrationsReport {
  applied?: number;
  pending?: number;
  pendingNames?: string[];
  error?: string;
}

export const status = defineCommand({
  meta: {
    name: "status",
    description: "Containers and their health, applied and pending migrations, the latest backups",
  },
  args: { ...dirArg, json: { type: "boolean", description: "print JSON to stdout" } },
  run: async ({ args }) => {
    const ctx = await loadContext(args.dir);
    const exec = new ManageShell(ctx.root, false);
    await requireDocker(exec);

    const ps = await exec.exec("docker", composeArgs(ctx, "ps", "--all", "--format", "json"), {
      kind: "query",
    });
    if (ps.exitCode !== 0) {
      throw new ManageError(
        "dockerFailed",
        `docker compose ps failed (exit ${ps.exitCode}): ${errorSummary(ps.stderr)}`,
      );
    }
    const containers = parsePs(ps.stdout);
    const dbRunning = containers.some((c) => c.service === SERVICES.db && c.state === "running");

    let migrations: MigrationsReport;
    if (!dbRunning) migrations = { error: `${SERVICES.db} is not running` };
    else {
      // --no-deps: looking must not start or recreate anything.
      const show = await exec.exec(
        "docker",
        composeWithMigrator(ctx, "run", "--rm", "--no-deps", SERVICES.migrator, "show", "--json"),
        { kind: "query" },
      );
      migrations =
        show.exitCode === 0 ? summarise(show.stdout) : { error: errorSummary(show.stderr) };
    }
    const backups = (await listBackups(ctx)).slice(0, 5);

    if (args.json) {
      out.data(
        JSON.stringify(
          {
            containers: containers.map(({ service, state, health }) => ({
              service,
              state,
              health,
            })),
            migrations,
            backups,
          },
          null,
          2,
        ),
      );
      return;
    }
    out.data("containers:");
    if (containers.length === 0) out.data("  (none: ./manage deploy starts them)");
    for (const c of containers) {
      out.data(`  ${c.service.padEnd(20)} ${c.state}${c.health ? `, ${c.health}` : ""}`);
    }
    if (migrations.error) out.data(`migrations: unknown (${migrations.error})`);
    else {
      out.data(`migrations: ${migrations.applied} applied, ${migrations.pending} pending`);
      for (const name of migrations.pendingNames ?? []) out.data(`  [ ] ${name}`);
    }
    out.data("backups (newest first):");
    if (backups.length === 0) out.data("  (none: ./manage backup-db takes one)");
    for (const b of backups) out.data(`  ${basename(b.path)}  ${formatBytes(b.bytes)}`);
  },
});

function summarise(json: string): MigrationsReport {
  try {
    const report = JSON.parse(json) as {
      applied: number;
      pending: number;
      migrations: { name: string; applied: boolean }[];
    };
    return {
      applied: report.applied,
      pending: report.pending,
      pendingNames: report.migrations.filter((m) => !m.applied).map((m) => m.name),
    };
  } catch {
    return { error: "the migrator's answer was not JSON" };
  }
}
