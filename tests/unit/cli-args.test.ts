import { expect, test } from "bun:test";
import { parseCount, parseSeconds } from "../../src/cli/args.ts";
import { CliError } from "../../src/cli/errors.ts";

function usage(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as CliError).message;
  }
  throw new Error("expected a usage error");
}

test.each([
  ["0", 0],
  ["60", 60],
  ["0.5", 0.5],
  [30, 30],
])("seconds %p are %p", (value, seconds) => {
  expect(parseSeconds(value, "--timeout")).toBe(seconds);
});

test.each(["", undefined, "-1", "ten", "Infinity", "1e999"])(
  "seconds %p are refused with the flag's name",
  (value) => {
    expect(usage(() => parseSeconds(value, "--lock-timeout"))).toBe(
      `--lock-timeout must be a number of seconds (got "${value}")`,
    );
  },
);

test("a minimum is part of the message", () => {
  expect(usage(() => parseSeconds("0.05", "--interval", 0.1))).toBe(
    '--interval must be a number of seconds of at least 0.1 (got "0.05")',
  );
});

test.each([
  ["0", 0, 0],
  ["100", 0, 100],
  ["3", 1, 3],
])("count %p (at least %p) is %p", (value, min, count) => {
  expect(parseCount(value, "--lines", min)).toBe(count);
});

test.each([
  ["0", 1],
  ["-1", 0],
  ["1.5", 0],
  ["0x2", 1],
  ["1e3", 0],
  ["", 0],
  ["99999999999999999999", 0],
])("count %p (at least %p) is refused", (value, min) => {
  expect(usage(() => parseCount(value, "--steps", min))).toBe(
    `--steps must be a whole number of at least ${min} (got "${value}")`,
  );
});
