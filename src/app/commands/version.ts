import { defineCommand } from "citty";
import { out } from "../../cli/output.ts";
import { BUILD } from "../../migrator/build-info.ts";

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
