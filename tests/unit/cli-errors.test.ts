import { afterEach, beforeEach, expect, type Mock, spyOn, test } from "bun:test";
import { isAuditUnavailable } from "../../src/app/audit-database.ts";
import { AppError, CliError, ConfigError, ManageError } from "../../src/cli/errors.ts";
import { report } from "../../src/cli/run-cli.ts";
import { MigrateError } from "../../src/migrate/errors.ts";

// report() prints its one line to stderr: caught here, so the test output shows no stray errors.
let stderr: Mock<typeof process.stderr.write>;
beforeEach(() => {
  stderr = spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(() => stderr.mockRestore());
const printed = () => stderr.mock.calls.map(([chunk]) => String(chunk)).join("");

test.each([
  ["engine", new MigrateError("lock", "held"), "lock", 9],
  ["configuration", new ConfigError("bad NODE_ENV"), "usage", 2],
  ["app", new AppError("cannotListen", "port in use"), "cannotListen", 22],
  ["manage", new ManageError("dumpFailed", "pg_dump failed"), "dumpFailed", 34],
  ["manage, shared code", new ManageError("connect", "no engine"), "connect", 3],
] as const)(
  "a %s failure is one CliError with its own kind and code",
  (_label, error, kind, code) => {
    expect(error).toBeInstanceOf(CliError);
    expect(error.kind).toBe(kind);
    expect(error.exitCode).toBe(code);
    expect(report(error, "test")).toBe(code);
    expect(printed()).toBe(`error: ${error.message}\n`);
  },
);

test("anything that is not a CliError is a bug: exit 1", () => {
  expect(report(new TypeError("undefined is not a function"), "test")).toBe(1);
  expect(printed()).toStartWith("error: undefined is not a function");
});

test("code that asks for the kind reads the real one, whichever CLI threw it", () => {
  // ManageError used to report kind "internal" for every failure.
  expect(isAuditUnavailable(new ManageError("connect", "the database does not answer"))).toBe(true);
  expect(isAuditUnavailable(new ManageError("dockerFailed", "docker build failed"))).toBe(false);
  expect(isAuditUnavailable(new AppError("cannotListen", "port in use"))).toBe(false);
});
