import { describe, expect, test } from "bun:test";
import { mkdtemp, readFile, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, LockHeldError, liveHolder, withLock } from "../../src/app/file-lock.ts";

async function lockPath(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), "backupctl-lock-")), "locks", "shop.lock");
}

/** The pid of a process that has exited: what a crashed backupctl leaves in its lock. */
async function deadPid(): Promise<number> {
  const child = Bun.spawn(["true"]);
  await child.exited;
  return child.pid;
}

/** A lock held by another live process: a child that takes it and waits for its stdin to close. */
async function holdInChild(path: string) {
  const script = `
    import { acquireLock } from ${JSON.stringify(join(import.meta.dir, "../../src/app/file-lock.ts"))};
    const lock = await acquireLock(${JSON.stringify(path)});
    console.log("held");
    for await (const _ of Bun.stdin.stream()) {}
    await lock.release();
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe" });
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("held");
  return {
    pid: child.pid,
    async release() {
      child.stdin.end();
      await child.exited;
    },
  };
}

describe("file locks", () => {
  test("a lock holds our pid; a second acquire in this process is refused until release", async () => {
    const path = await lockPath();
    const lock = await acquireLock(path);
    expect((await readFile(path, "utf8")).split("\n")[0]).toBe(String(process.pid));
    expect(await liveHolder(path)).toBe(process.pid);
    const second = await acquireLock(path).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(LockHeldError);
    expect((second as LockHeldError).pid).toBe(process.pid);
    await lock.release();
    expect(await Bun.file(path).exists()).toBe(false);
    expect(await liveHolder(path)).toBeNull();
    await (await acquireLock(path)).release();
  });

  test("a lock held by another live process is refused, then free once it releases", async () => {
    const path = await lockPath();
    const holder = await holdInChild(path);
    try {
      const error = await acquireLock(path).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as LockHeldError).pid).toBe(holder.pid);
      expect(await liveHolder(path)).toBe(holder.pid);
    } finally {
      await holder.release();
    }
    await (await acquireLock(path)).release();
  });

  test("a stale lock (dead pid) is taken over", async () => {
    const path = await lockPath();
    await (await acquireLock(path)).release(); // creates the folder
    await writeFile(path, `${await deadPid()}\n\n`);
    expect(await liveHolder(path)).toBeNull();
    const lock = await acquireLock(path);
    expect((await readFile(path, "utf8")).split("\n")[0]).toBe(String(process.pid));
    await lock.release();
  });

  test("our own pid in a lock this process does not hold is a previous process's (container restart)", async () => {
    const path = await lockPath();
    await (await acquireLock(path)).release();
    await writeFile(path, `${process.pid}\n\n`);
    await (await acquireLock(path)).release();
  });

  test("a live pid with another start time is a reused pid, so the lock is stale", async () => {
    const path = await lockPath();
    const holder = await holdInChild(path);
    try {
      await writeFile(path, `${holder.pid}\n1\n`);
      expect(await liveHolder(path)).toBeNull();
    } finally {
      await holder.release();
    }
  });

  test("an empty lock file is being written (held) when fresh, stale when old", async () => {
    const path = await lockPath();
    await (await acquireLock(path)).release();
    await writeFile(path, "");
    expect(await acquireLock(path).catch((error: unknown) => error)).toBeInstanceOf(LockHeldError);
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    await (await acquireLock(path)).release();
  });

  test("withLock waits for the holder, then runs", async () => {
    const path = await lockPath();
    const first = await acquireLock(path);
    const order: string[] = [];
    const waiting = withLock(path, async () => void order.push("second"), { waitMs: 5000 });
    await Bun.sleep(100);
    order.push("first");
    await first.release();
    await waiting;
    expect(order).toEqual(["first", "second"]);
    const late = await withLock(path, async () => 1, { waitMs: 0 });
    expect(late).toBe(1);
  });
});
