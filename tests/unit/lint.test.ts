import { expect, test } from "bun:test";
import { allowedRules, lintFindings, sqlForSquawk } from "../../src/migrate/lint.ts";

test("squawk-ignore comments allow the rules they name, and only those", () => {
  const source = `// squawk-ignore ban-drop-column: unused since 2.3
  /* squawk-ignore: require-concurrent-index-creation, adding-required-field */`;
  expect([...allowedRules(source)].sort()).toEqual([
    "adding-required-field",
    "ban-drop-column",
    "require-concurrent-index-creation",
  ]);
  expect(allowedRules("no comments here").size).toBe(0);
});

test("a finding's line maps back to the statement that produced it, multi-line statements included", () => {
  const statements = ['CREATE TABLE "a" (\n  "id" int\n)', 'ALTER TABLE "a" DROP COLUMN "id"'];
  const { text, statementAtLine } = sqlForSquawk(statements);
  expect(text.split("\n")[3]).toBe('ALTER TABLE "a" DROP COLUMN "id";');
  expect(statementAtLine).toEqual([0, 0, 0, 1]);
  const findings = lintFindings(
    [{ name: "M1", up: statements, down: ['DROP TABLE "a"'], restored: true, difference: [] }],
    new Map([
      [
        "M1",
        [
          {
            file: "x.sql",
            line: 3,
            rule_name: "ban-drop-column",
            message: "Dropping a column",
            level: "Warning",
          },
        ],
      ],
    ]),
    new Map(),
  );
  expect(findings).toEqual([
    {
      migration: "M1",
      statement: statements[1] as string,
      rule: "ban-drop-column",
      message: "Dropping a column",
      allowed: false,
    },
  ]);
});

test("an up() with statements and a down() without any is an empty-down finding", () => {
  const findings = lintFindings(
    [{ name: "M2", up: ["ALTER TABLE x ADD y int"], down: [], restored: false, difference: [] }],
    new Map(),
    new Map([["M2", ""]]),
  );
  expect(findings.map((f) => f.rule)).toEqual(["empty-down"]);
});
