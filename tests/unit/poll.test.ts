import { expect, test } from "bun:test";
import { pollUntil } from "../../src/lib/poll.ts";

const timedOut = () => {
  throw new Error("timed out");
};

test("returns the first value an attempt gives, without waiting after it", async () => {
  let attempts = 0;
  const value = await pollUntil(async () => (++attempts === 3 ? "ready" : undefined), {
    timeoutMs: 5000,
    intervalMs: 1,
    onTimeout: timedOut,
  });
  expect(value).toBe("ready");
  expect(attempts).toBe(3);
});

test("a timeout of 0 tries exactly once, then lets onTimeout decide", async () => {
  let attempts = 0;
  const polled = pollUntil(
    async () => {
      attempts++;
      return undefined;
    },
    { timeoutMs: 0, intervalMs: 1000, onTimeout: timedOut },
  );
  await expect(polled).rejects.toThrow("timed out");
  expect(attempts).toBe(1);
});

test("tries once more at the deadline rather than giving up a pause early", async () => {
  const elapsed: number[] = [];
  const polled = pollUntil(
    async (ms) => {
      elapsed.push(ms);
      return undefined;
    },
    { timeoutMs: 30, intervalMs: 1000, onTimeout: timedOut },
  );
  await expect(polled).rejects.toThrow("timed out");
  // The pause is cut to the deadline: a first attempt, and a last one at 30 ms or later.
  expect(elapsed.length).toBe(2);
  expect(elapsed[1]).toBeGreaterThanOrEqual(30);
});

test("an attempt that throws stops the polling at once", async () => {
  let attempts = 0;
  const polled = pollUntil(
    async () => {
      attempts++;
      throw new Error("will not pass by waiting");
    },
    { timeoutMs: 5000, intervalMs: 1, onTimeout: timedOut },
  );
  await expect(polled).rejects.toThrow("will not pass by waiting");
  expect(attempts).toBe(1);
});
