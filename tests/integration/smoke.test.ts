import { expect, test } from "bun:test";
import { freshDatabase, openDataSource } from "../support/database.ts";

test("runs the field migrations on a fresh database", async () => {
  const db = await freshDatabase();
  const ds = await openDataSource(db);
  const ran = await ds.runMigrations({ transaction: "each" });
  expect(ran.map((m) => m.name)).toEqual([
    "CreateBackupLogTable1710720000000",
    "AddBackupTypeToBackupLog1742467200000",
  ]);
  const sql = await ds.driver.createSchemaBuilder().log();
  console.log(sql.upQueries.map((q) => q.query));
  await ds.destroy();
});
