import { defineCommand } from "citty";
import { BUILD } from "../../cli/build-info.ts";
import { out } from "../../cli/output.ts";

export const version = defineCommand({
  meta: {
    name: "version",
    description: "Print the version and the git revision it was built from",
  },
  args: { json: { type: "boolean", description: "print JSON" } },
  run: ({ args }) => {
    out.data(args.json ? JSON.stringify(BUILD) : `backupctl ${BUILD.version} (${BUILD.revision})`);
  },
});
