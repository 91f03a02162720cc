import { versionCommand } from "../../cli/version-command.ts";

export const version = versionCommand("backupctl");
