import { migrationCommands } from "../../src/cli/migration-commands.ts";
import { dbArg, openDevDataSource, readDevStates } from "../lib/dev-env.ts";

/**
 * migrate:run, migrate:show, migrate:revert and migrate:resolve on the dev database, as the
 * migrator defines them. Apart from generate (scripts/dev/migrate.ts), whose module loads TypeORM:
 * show, and a run with nothing to do, answer over a plain connection without it.
 */
const commands = migrationCommands({
  args: dbArg,
  open: (args) => openDevDataSource(args.db as string | undefined),
  readStates: (args) => readDevStates(args.db as string | undefined),
  prefix: "migrate:",
});
export const migrateRun = commands.run;
export const migrateShow = commands.show;
export const migrateRevert = commands.revert;
export const migrateResolve = commands.resolve;
