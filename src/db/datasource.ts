import { DataSource } from "typeorm";
import { buildDataSourceOptions } from "../config/typeorm.config.ts";

/**
 * The audit database, configured from the environment. Exactly one DataSource is exported so
 * TypeORM's own CLI can load this file, under Bun:
 * `bun run typeorm migration:show -d src/db/datasource.ts` (or `bunx --bun typeorm …`).
 */
export const AppDataSource = new DataSource(buildDataSourceOptions());
