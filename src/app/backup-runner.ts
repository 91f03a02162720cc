import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { AuditLogPort } from "../domain/audit/audit-log.port.ts";
import type { BackupRun, BackupStage } from "../domain/audit/backup-run.ts";
import { acquireLock, type FileLock, LockHeldError } from "./file-lock.ts";
import type { ProjectConfig } from "./project-config.ts";
import { type Clock, type FallbackSink, type RecordedIn, RunRecorder } from "./run-recorder.ts";
import { explainFailure, runShell, succeeded } from "./shell.ts";

/**
 * One backup run of one project: lock, record, pre_hook → dump (with retries) → verify →
 * post_hook, record the outcome. It never prints; the CLI follows it through `onEvent`.
 */

export interface RunnerDeps {
  audit: AuditLogPort;
  fallback: FallbackSink;
  clock: Clock;
  /** The lock file of a project: one run per project at a time on this host. */
  lockPath: (project: string) => string;
  /** Where commands run: the config file's folder, so relative paths mean the same as in `output`. */
  workDir: string;
  /** The environment commands inherit; project values are added to it. */
  env: Record<string, string | undefined>;
  /** Pause before running a failed dump again. */
  retryDelayMs?: number;
  /** Values never to store in an error message (the audit database password). */
  secrets?: readonly string[];
  onEvent?: (event: RunEvent) => void;
}

export type RunEvent =
  | { type: "stage"; project: string; stage: BackupStage }
  | { type: "retry"; project: string; retry: number; retries: number; reason: string };

export interface RunOptions {
  /** Show what would run; run nothing, record nothing, take no lock. */
  dryRun?: boolean;
  /** Aborting stops the running command and ends the run as failed. */
  signal?: AbortSignal;
}

export interface RunPlan {
  project: string;
  workDir: string;
  env: Record<string, string>;
  timeoutSeconds: number;
  retries: number;
  steps: { stage: BackupStage; run: string }[];
}

export type RunOutcome =
  | { dryRun: true; plan: RunPlan }
  | {
      dryRun: false;
      run: BackupRun;
      recordedIn: RecordedIn;
      /** Why the audit log was not used, when it was not. */
      auditUnavailable: string | null;
    };

export class AlreadyRunningError extends Error {
  override name = "AlreadyRunningError";
  constructor(
    readonly project: string,
    readonly pid: number | null,
  ) {
    super(
      `a backup of ${project} is already running${pid === null ? "" : ` (process ${pid})`}: not starting another`,
    );
  }
}

interface Failure {
  stage: BackupStage;
  message: string;
}

export class BackupRunner {
  constructor(private readonly deps: RunnerDeps) {}

  /** Throws AlreadyRunningError when this project is being backed up by another process. */
  async run(project: ProjectConfig, options: RunOptions = {}): Promise<RunOutcome> {
    if (options.dryRun) return { dryRun: true, plan: planRun(project, this.deps.workDir) };
    const lock = await this.lock(project.name);
    try {
      return await this.execute(project, options.signal);
    } finally {
      await lock.release();
    }
  }

  private async lock(project: string): Promise<FileLock> {
    try {
      return await acquireLock(this.deps.lockPath(project));
    } catch (error) {
      if (error instanceof LockHeldError) throw new AlreadyRunningError(project, error.pid);
      throw error;
    }
  }

  private async execute(project: ProjectConfig, signal?: AbortSignal): Promise<RunOutcome> {
    const recorder = new RunRecorder(this.deps.audit, this.deps.fallback, this.deps.clock);
    const run = await recorder.start(project.name);
    const steps = this.steps(project, recorder, run.id, signal);

    let failure: Failure | null = null;
    if (project.preHook) {
      await steps.enter("pre_hook");
      failure = await steps.command("pre_hook", project.preHook);
    }
    const dump = failure ? null : await this.dumpAndVerify(project, steps, signal);
    failure ??= dump?.failure ?? null;

    // Like `finally`: whatever pre_hook stopped (a service, a lock) post_hook can restart, so it
    // runs after a failure too and learns the outcome from BACKUPCTL_STATUS. Only an interrupt
    // (backupctl itself is being stopped) starts nothing more.
    if (project.postHook && !signal?.aborted) {
      await steps.enter("post_hook");
      const hookFailure = await steps.command("post_hook", project.postHook, {
        BACKUPCTL_STATUS: failure ? "failed" : "success",
      });
      failure ??= hookFailure;
    }

    const dumpSizeBytes = dump?.sizeBytes ?? null;
    const { run: finished, recordedIn } = await recorder.finish({
      status: failure ? "failed" : "success",
      dumpSizeBytes,
      verified: dumpSizeBytes !== null,
      retryCount: dump?.retries ?? 0,
      errorStage: failure?.stage ?? null,
      errorMessage: failure?.message ?? null,
    });
    return { dryRun: false, run: finished, recordedIn, auditUnavailable: recorder.offlineBecause };
  }

  /** The dump, run again up to `retries` times while it fails, then the check of its file. */
  private async dumpAndVerify(
    project: ProjectConfig,
    steps: Steps,
    signal?: AbortSignal,
  ): Promise<{ failure: Failure | null; retries: number; sizeBytes: number | null }> {
    await steps.enter("dump");
    await mkdir(dirname(project.output), { recursive: true });
    const before = await fileState(project.output);
    let failure = await steps.command("dump", project.command);
    let retries = 0;
    while (failure && retries < project.retries && !signal?.aborted) {
      retries++;
      this.deps.onEvent?.({
        type: "retry",
        project: project.name,
        retry: retries,
        retries: project.retries,
        reason: failure.message,
      });
      await Bun.sleep(this.deps.retryDelayMs ?? 0);
      failure = await steps.command("dump", project.command);
    }
    if (failure) return { failure, retries, sizeBytes: null };

    await steps.enter("verify");
    const verified = await verifyOutput(project.output, before);
    return typeof verified === "number"
      ? { failure: null, retries, sizeBytes: verified }
      : { failure: { stage: "verify", message: verified }, retries, sizeBytes: null };
  }

  /** Entering a stage (recorded, then announced) and running a command in it, for one run. */
  private steps(
    project: ProjectConfig,
    recorder: RunRecorder,
    runId: string,
    signal?: AbortSignal,
  ): Steps {
    const env = { ...this.deps.env, ...projectEnv(project), BACKUPCTL_RUN_ID: runId };
    return {
      enter: async (stage) => {
        await recorder.stage(stage);
        this.deps.onEvent?.({ type: "stage", project: project.name, stage });
      },
      command: async (stage, text, extraEnv = {}) => {
        const result = await runShell(text, {
          cwd: this.deps.workDir,
          env: { ...env, BACKUPCTL_STAGE: stage, ...extraEnv },
          timeoutMs: project.timeoutSeconds * 1000,
          signal,
        });
        if (succeeded(result)) return null;
        return {
          stage,
          message: explainFailure(result, project.timeoutSeconds, this.deps.secrets),
        };
      },
    };
  }
}

interface Steps {
  enter(stage: BackupStage): Promise<void>;
  /** Runs `text` with the project's environment and timeout; null when it succeeded. */
  command(
    stage: BackupStage,
    text: string,
    extraEnv?: Record<string, string>,
  ): Promise<Failure | null>;
}

/** What a run of `project` would do, for `--dry-run`. */
export function planRun(project: ProjectConfig, workDir: string): RunPlan {
  const steps: RunPlan["steps"] = [];
  if (project.preHook) steps.push({ stage: "pre_hook", run: project.preHook });
  steps.push({ stage: "dump", run: project.command });
  steps.push({
    stage: "verify",
    run: `check that ${project.output} was written by this run and is not empty`,
  });
  if (project.postHook) steps.push({ stage: "post_hook", run: project.postHook });
  return {
    project: project.name,
    workDir,
    env: projectEnv(project),
    timeoutSeconds: project.timeoutSeconds,
    retries: project.retries,
    steps,
  };
}

/** What every command of a project sees, besides the inherited environment. */
function projectEnv(project: ProjectConfig): Record<string, string> {
  return { BACKUPCTL_PROJECT: project.name, BACKUPCTL_OUTPUT: project.output };
}

interface FileState {
  isFile: boolean;
  size: number;
  modifiedMs: number;
}

async function fileState(path: string): Promise<FileState | null> {
  try {
    const info = await stat(path);
    return { isFile: info.isFile(), size: info.size, modifiedMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/**
 * The dump's size, or why it is not a dump. A file the dump left exactly as it was before (same
 * size and modification time) is the previous run's, not a new backup.
 */
async function verifyOutput(output: string, before: FileState | null): Promise<number | string> {
  const after = await fileState(output);
  if (after === null) {
    return `${output} does not exist: the command must write the dump to $BACKUPCTL_OUTPUT`;
  }
  if (!after.isFile) return `${output} is not a regular file`;
  if (after.size === 0) return `${output} is empty`;
  if (before && before.size === after.size && before.modifiedMs === after.modifiedMs) {
    return `${output} was not written by this run (unchanged since before the dump)`;
  }
  return after.size;
}
