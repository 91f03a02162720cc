import { describe, expect, test } from "bun:test";
import { parseEnvFile } from "../../scripts/manage/lib/context.ts";
import { connectionSecrets } from "../../src/config/connection.ts";
import { redact } from "../../src/config/redact.ts";

describe(".env: the quoting rules users rely on", () => {
  test.each([
    ["a single-quoted value with a comment after it", "A='secret' # comment", "secret"],
    ["a double-quoted value keeps a # inside", 'A="has # hash" # comment', "has # hash"],
    ["\\n inside double quotes is a newline", 'A="x\\ny"', "x\ny"],
    ["single quotes keep backslashes as they are", "A='x\\ny'", "x\\ny"],
    ["an unquoted value ends before ' #'", "A=plain # comment", "plain"],
    ["export is allowed", "export A=1", "1"],
    ["spaces around = are dropped", "A = spaced", "spaced"],
    ["backticks quote too", "A=`it's`", "it's"],
    ["an empty value", "A=", ""],
  ])("%s", (_label, line, value) => {
    expect(parseEnvFile(`# header\n\n${line}\nB=after\n`)).toEqual({ A: value, B: "after" });
  });

  test("Windows line ends", () => {
    expect(parseEnvFile("A='x'\r\nB=y\r\n")).toEqual({ A: "x", B: "y" });
  });
});

describe("every password form in .env is registered for redaction", () => {
  test("quoted AUDIT_DB_PASSWORD: the bare password is what gets hidden", () => {
    const env = parseEnvFile("AUDIT_DB_PASSWORD='s3cret-pw' # set by setup\n");
    const secrets = connectionSecrets(env);
    expect(secrets).toEqual(["s3cret-pw"]);
    expect(redact("auth failed for s3cret-pw", secrets)).toBe("auth failed for ***");
  });

  test("DATABASE_URL's password, URL-encoded in the file, is hidden decoded and encoded", () => {
    const env = parseEnvFile(
      'DATABASE_URL="postgres://me:p%40ss%20w0rd@db:5432/audit?sslmode=require"\nPGPASSWORD=other-pw\n',
    );
    const secrets = connectionSecrets(env);
    expect(secrets).toEqual(["other-pw", "p@ss w0rd"]);
    const text = "p@ss w0rd | p%40ss%20w0rd | p%40ss+w0rd | other-pw";
    expect(redact(text, secrets)).toBe("*** | *** | *** | ***");
  });

  test("?password= in DATABASE_URL", () => {
    expect(connectionSecrets({ DATABASE_URL: "postgres://db/audit?password=q%26pw" })).toEqual([
      "q&pw",
    ]);
  });
});
