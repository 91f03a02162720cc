import { defineCommand } from "citty";
import { out } from "../../cli/output.ts";
import type { BackupRun } from "../../domain/audit/backup-run.ts";
import { DEFAULT_LAST, runToJson } from "../run-view.ts";
import { loadProjectsConfig, readAppSettings } from "../settings.ts";
import { checkProjectName, jsonArg, lastArg, openAuditDatabase } from "./context.ts";
import { formatTable, STATUS_HEADER, statusRow } from "./format.ts";

export const status = defineCommand({
  meta: {
    name: "status",
    description: "The last run of every configured project, or the last runs of one",
  },
  args: {
    project: { type: "positional", required: false, description: "show this project's runs" },
    last: {
      type: "string",
      description: `how many runs (default: 1 per project, ${DEFAULT_LAST} for one project)`,
    },
    ...jsonArg,
  },
  run: async ({ args }) => {
    // One project needs no config file: its history is in the database even once unconfigured.
    const projects = args.project
      ? [checkProjectName(args.project)]
      : (await loadProjectsConfig(readAppSettings())).projects.map((project) => project.name);
    const last = lastArg(args.last, args.project ? DEFAULT_LAST : 1);
    const { db } = openAuditDatabase();
    try {
      const audit = await db.auditLog();
      const runs = new Map<string, BackupRun[]>();
      for (const project of projects)
        runs.set(project, await audit.findByProject(project, { limit: last }));
      if (args.json) {
        const body = projects.map((project) => ({
          project,
          runs: (runs.get(project) ?? []).map(runToJson),
        }));
        out.data(JSON.stringify(body, null, 2));
        return;
      }
      const rows = projects.flatMap((project) => {
        const list = runs.get(project) ?? [];
        return list.length === 0
          ? [statusRow(project, undefined)]
          : list.map((run) => statusRow(project, run));
      });
      for (const line of formatTable([STATUS_HEADER, ...rows])) out.data(line);
    } finally {
      await db.close();
    }
  },
});
