import { defineCommand } from "citty";
import { out } from "../../cli/output.ts";
import { runToJson } from "../run-view.ts";
import { checkProjectName, jsonArg, lastArg, openAuditDatabase } from "./context.ts";
import { logBlock } from "./format.ts";

const DEFAULT_LOGS = 20;

export const logs = defineCommand({
  meta: { name: "logs", description: "A project's runs, newest first, with their errors in full" },
  args: {
    project: { type: "positional", required: true, description: "project name" },
    failed: { type: "boolean", description: "only failed runs" },
    last: { type: "string", description: `how many runs (default ${DEFAULT_LOGS})` },
    ...jsonArg,
  },
  run: async ({ args }) => {
    const project = checkProjectName(args.project);
    const limit = lastArg(args.last, DEFAULT_LOGS);
    const { db } = openAuditDatabase();
    try {
      const audit = await db.auditLog();
      const runs = args.failed
        ? await audit.findFailed({ projectName: project, limit })
        : await audit.findByProject(project, { limit });
      if (args.json) {
        out.data(JSON.stringify(runs.map(runToJson), null, 2));
        return;
      }
      if (runs.length === 0)
        out.progress(`no ${args.failed ? "failed " : ""}runs of ${project} recorded`);
      for (const run of runs) for (const line of logBlock(run)) out.data(line);
    } finally {
      await db.close();
    }
  },
});
