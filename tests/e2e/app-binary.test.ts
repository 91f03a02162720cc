import { beforeAll, expect, test } from "bun:test";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildBinary, emptyDir, migrator } from "../support/binaries.ts";
import { databaseEnv, freshDatabase, query } from "../support/database.ts";

let backupctl: string;
let migratorBinary: string;
beforeAll(async () => {
  [backupctl, migratorBinary] = await Promise.all([
    buildBinary("backupctl"),
    buildBinary("migrator"),
  ]);
}, 180_000);

test("the compiled app runs a backup and records it, and reports health, from an empty directory", async () => {
  const db = await freshDatabase();
  const dir = await emptyDir();
  await mkdir(join(dir, "config"));
  await writeFile(
    join(dir, "config", "projects.yml"),
    "projects:\n  - name: notes\n    command: printf 'backup' > \"$BACKUPCTL_OUTPUT\"\n    output: ../out/notes.dump\n",
  );
  const env = { ...databaseEnv(db), PATH: "/usr/bin:/bin" };
  const spawn = async (args: string[]) => {
    const proc = Bun.spawn([backupctl, ...args], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { stdout, stderr, exitCode };
  };
  const unmigrated = await spawn(["health"]);
  expect(unmigrated.exitCode).toBe(5); // pending migrations: unhealthy, so deploy waits
  expect((await migrator(migratorBinary, ["run"], databaseEnv(db))).exitCode).toBe(0);
  expect((await spawn(["health"])).exitCode).toBe(0);
  const ran = await spawn(["run", "notes"]);
  expect(ran.exitCode).toBe(0);
  const rows = await query(db, "SELECT project_name, status, dump_size_bytes FROM backup_log");
  expect(rows).toEqual([{ project_name: "notes", status: "success", dump_size_bytes: "6" }]);
  expect(await Bun.file(join(dir, "out", "notes.dump")).text()).toBe("backup");
});
