import { DataSource } from "typeorm";
import { buildDataSourceOptions } from "../config/typeorm.config.ts";

/**
 * The audit database, configured from the environment. Exactly one DataSource is exported so
 * TypeORM's own CLI can load this file: `bunx typeorm migration:show -d src/db/datasource.ts`.
 */
export const AppDataSource = new DataSource(buildDataSourceOptions());
