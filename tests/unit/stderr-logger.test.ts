import { expect, test } from "bun:test";
import { registerSecret } from "../../src/config/redact.ts";
import { StderrLogger } from "../../src/db/stderr-logger.ts";

test("TypeORM's failed-query line hides a registered password the error quotes", () => {
  registerSecret("Zq9-hunter2-Secret");
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    new StderrLogger(["error"]).logQueryError(
      'invalid input syntax for type integer: "Zq9-hunter2-Secret"',
      "SELECT $1::int",
    );
  } finally {
    process.stderr.write = write;
  }
  expect(written.join("")).toContain("query failed: SELECT $1::int");
  expect(written.join("")).not.toContain("hunter2");
});
