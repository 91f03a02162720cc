import { defineCommand } from "citty";
import { usageError } from "../../cli/errors.ts";
import { APP_EXIT_CODES } from "../../cli/exit-codes.ts";
import { formatBytes } from "../../cli/format-bytes.ts";
import { out } from "../../cli/output.ts";
import { rawValue } from "../../domain/audit/backup-run.ts";
import { unavailableAuditLog } from "../audit-database.ts";
import {
  AlreadyRunningError,
  BackupRunner,
  planRun,
  type RunEvent,
  type RunPlan,
} from "../backup-runner.ts";
import type { ProjectConfig, ProjectsConfig } from "../project-config.ts";
import { RunNotRecordedError } from "../run-recorder.ts";
import {
  commandEnvironment,
  loadProjectsConfig,
  readAppSettings,
  statePaths,
} from "../settings.ts";
import {
  catchUpWithAuditLog,
  clock,
  fallbackFile,
  findProject,
  openAuditDatabase,
  RETRY_DELAY_MS,
} from "./context.ts";
import { formatDuration } from "./format.ts";

export const run = defineCommand({
  meta: {
    name: "run",
    description: "Back up a project (or --all, one after another) and record the run",
  },
  args: {
    project: { type: "positional", required: false, description: "project name from the config" },
    all: { type: "boolean", description: "back up every configured project" },
    "dry-run": { type: "boolean", description: "show what would run; run and record nothing" },
  },
  run: async ({ args }) => {
    const settings = readAppSettings();
    const config = await loadProjectsConfig(settings);
    const projects = selectProjects(config, args.project, args.all);
    if (args["dry-run"]) {
      for (const project of projects) printPlan(planRun(project, config.baseDir));
      return;
    }

    const paths = statePaths(settings.stateDir);
    const fallback = fallbackFile(paths);
    const { db, password } = openAuditDatabase();
    const interrupt = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      out.warn(`received ${signal}: stopping the running command`);
      interrupt.abort(signal);
    };
    process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
    try {
      // Unavailable now: the runs go to the fallback file without a connection attempt per call.
      const unavailable = await catchUpWithAuditLog(db, settings, config);
      const runner = new BackupRunner({
        audit: unavailable ? unavailableAuditLog(unavailable) : await db.auditLog(),
        fallback,
        clock,
        lockPath: paths.projectLock,
        workDir: config.baseDir,
        env: commandEnvironment(process.env),
        retryDelayMs: RETRY_DELAY_MS,
        secrets: [password],
        onEvent: printEvent,
      });
      let exitCode: number = APP_EXIT_CODES.ok;
      for (const project of projects) {
        if (interrupt.signal.aborted) break;
        const code = await backUp(runner, project, interrupt.signal, {
          fallbackPath: fallback.path,
          // Said once already when the database was down from the start.
          explainFallback: unavailable === null,
        });
        // The code of what needs looking at most: an unrecorded run, a failed, a refused one.
        if (SEVERITY.indexOf(code) > SEVERITY.indexOf(exitCode)) exitCode = code;
      }
      process.exitCode = exitCode;
    } finally {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      await db.close();
    }
  },
});

const SEVERITY: readonly number[] = [
  APP_EXIT_CODES.ok,
  APP_EXIT_CODES.alreadyRunning,
  APP_EXIT_CODES.backupFailed,
  APP_EXIT_CODES.notRecorded,
];

function selectProjects(
  config: ProjectsConfig,
  name: string | undefined,
  all: boolean | undefined,
): ProjectConfig[] {
  if (all && name) usageError("give a project name or --all, not both");
  if (all) return config.projects;
  if (!name) usageError("which project? give its name, or --all");
  return [findProject(config, name)];
}

async function backUp(
  runner: BackupRunner,
  project: ProjectConfig,
  signal: AbortSignal,
  fallbackNote: { fallbackPath: string; explainFallback: boolean },
): Promise<number> {
  let outcome: Awaited<ReturnType<BackupRunner["run"]>>;
  try {
    outcome = await runner.run(project, { signal });
  } catch (error) {
    if (error instanceof RunNotRecordedError) {
      // The last place left: stderr (cron mails it, a journal keeps it), one line, the run as JSON.
      out.error(`${error.message}; the run: ${JSON.stringify(error.run)}`);
      return APP_EXIT_CODES.notRecorded;
    }
    if (!(error instanceof AlreadyRunningError)) throw error;
    out.error(error.message);
    return APP_EXIT_CODES.alreadyRunning;
  }
  if (outcome.dryRun) return APP_EXIT_CODES.ok;
  const { run, recordedIn } = outcome;
  if (recordedIn === "fallback") {
    const why = fallbackNote.explainFallback ? ` (${outcome.auditUnavailable})` : "";
    out.warn(
      `the audit log could not record run ${run.id}${why}: it is saved in ${fallbackNote.fallbackPath} and goes into the database on the next start`,
    );
  }
  const took = formatDuration(run.durationMs ?? 0);
  if (run.status === "success") {
    out.success(
      `${project.name}: backed up ${formatBytes(run.dumpSizeBytes ?? 0)} in ${took} (run ${run.id})`,
    );
    return APP_EXIT_CODES.ok;
  }
  const stage = run.errorStage === null ? "" : ` at ${rawValue(run.errorStage)}`;
  out.error(
    `${project.name}: backup failed${stage} after ${took}: ${run.errorMessage?.split("\n")[0]}`,
  );
  return APP_EXIT_CODES.backupFailed;
}

function printEvent(event: RunEvent): void {
  if (event.type === "stage") out.progress(`${event.project}: ${event.stage}`);
  else {
    out.warn(
      `${event.project}: dump failed (${event.reason.split("\n")[0]}); retry ${event.retry} of ${event.retries} in ${RETRY_DELAY_MS / 1000} s`,
    );
  }
}

function printPlan(plan: RunPlan): void {
  const retries =
    plan.retries === 0
      ? "no retries"
      : `up to ${plan.retries} ${plan.retries === 1 ? "retry" : "retries"} of the dump`;
  out.data(
    `${plan.project}: in ${plan.workDir}, each command limited to ${plan.timeoutSeconds} s, ${retries}`,
  );
  for (const [name, value] of Object.entries(plan.env)) out.data(`  ${name}=${value}`);
  for (const step of plan.steps) out.data(`  ${step.stage.padEnd(9)}  ${step.run}`);
}
