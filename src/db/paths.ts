import { join } from "node:path";
import type { RegistryPaths } from "../migrate/registry.ts";

/** Where the project keeps its schema sources, relative to this checkout. */
export const PROJECT_ROOT = join(import.meta.dir, "..", "..");
export const PROJECT_PATHS: RegistryPaths = {
  migrationsDir: join(PROJECT_ROOT, "migrations"),
  registryFile: join(PROJECT_ROOT, "src", "db", "migrations.ts"),
};
