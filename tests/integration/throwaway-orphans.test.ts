import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { sweepOrphanedServers } from "../../src/devdb/throwaway.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("a throwaway server whose test run was killed with -9 is stopped and deleted by the next one", async () => {
  const owner = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { startThrowawayServer } = await import(${JSON.stringify(join(PROJECT_ROOT, "src/devdb/throwaway.ts"))});
       const server = await startThrowawayServer();
       console.log(server.options.dir);
       await Bun.sleep(60_000);`,
    ],
    { stdout: "pipe", stderr: "inherit" },
  );
  const reader = owner.stdout.getReader();
  const { value } = await reader.read();
  const dir = new TextDecoder().decode(value).trim();
  const postmaster = Number(readFileSync(join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);
  expect(alive(postmaster)).toBe(true);

  owner.kill("SIGKILL");
  await owner.exited;
  expect(alive(postmaster)).toBe(true); // nothing stopped it: the leak this sweep ends
  expect(await sweepOrphanedServers()).toContain(dir);
  expect(alive(postmaster)).toBe(false);
  expect(existsSync(dir)).toBe(false);
}, 30_000);
