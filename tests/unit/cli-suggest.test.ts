import { expect, test } from "bun:test";
import { closestCommand } from "../../src/cli/run-cli.ts";

const dev = ["up", "down", "reset", "status", "psql", "logs", "migrate:run", "migrate:show"];

test.each([
  ["migrate:rnu", "migrate:run"], // swapped letters
  ["migration:run", "migrate:run"], // TypeORM's spelling
  ["migrations:show", "migrate:show"],
  ["MIGRATE:SHOW", "migrate:show"],
  ["stauts", "status"],
  ["lgos", "logs"],
])("%s suggests %s", (typed, meant) => {
  expect(closestCommand(typed, dev)).toBe(meant);
});

test.each(["deploy-everything", "x", "migrate:everything", ""])(
  "%p is too far from every command to suggest one",
  (typed) => {
    expect(closestCommand(typed, dev)).toBeUndefined();
  },
);
