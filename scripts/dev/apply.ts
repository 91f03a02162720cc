import { migrationCommands } from "../../src/cli/migration-commands.ts";
import { dbArg, openDevDataSource, readDevStates } from "../lib/dev-env.ts";

/**
 * The shared migration commands (migrate:run, show, revert, resolve …) on the dev database, as
 * the migrator defines them; scripts/dev.ts registers them by name. Kept apart from generate
 * (scripts/dev/migrate.ts), whose module loads TypeORM: show, and a run with nothing to do,
 * answer over a plain connection without it.
 */
export const shared = migrationCommands({
  args: dbArg,
  open: (args) => openDevDataSource(args.db as string | undefined),
  readStates: (args) => readDevStates(args.db as string | undefined),
  prefix: "migrate:",
});
