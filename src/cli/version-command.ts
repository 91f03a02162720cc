import { defineCommand } from "citty";
import { BUILD } from "./build-info.ts";
import { out } from "./output.ts";

/** `<binary> version [--json]`: the package version and the git revision it was built from. */
export function versionCommand(binary: string) {
  return defineCommand({
    meta: {
      name: "version",
      description: "Print the version and the git revision it was built from",
    },
    args: { json: { type: "boolean", description: "print JSON" } },
    run: ({ args }) => {
      out.data(
        args.json ? JSON.stringify(BUILD) : `${binary} ${BUILD.version} (${BUILD.revision})`,
      );
    },
  });
}
