import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import pg from "pg";
import { parseEnvFile } from "../../scripts/manage/lib/context.ts";
import { APP_UID } from "../../scripts/manage/setup.ts";
import { readConnection } from "../../src/config/connection.ts";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { query } from "../support/database.ts";
import { describeCall, fakeDocker, manage, serverCheckout } from "../support/fake-docker.ts";
import { testServerConnection } from "../support/server.ts";

/** `./manage setup` and `./manage check`, and the one-line errors every command shares. */

async function freshServer(): Promise<string> {
  const dir = await serverCheckout({}, { withEnv: false });
  await rm(join(dir, "backups"), { recursive: true });
  return dir;
}

describe("./manage setup", () => {
  test("creates .env (mode 600, generated password, production) and backups/", async () => {
    const dir = await freshServer();
    const result = await manage(["setup", "--dir", dir]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("Created .env (mode 600) with a generated AUDIT_DB_PASSWORD");
    expect(result.stderr).toContain("Created backups/");

    const envFile = join(dir, ".env");
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const env = parseEnvFile(await readFile(envFile, "utf8"));
    const example = parseEnvFile(await readFile(join(dir, ".env.example"), "utf8"));
    expect(env.AUDIT_DB_PASSWORD).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(env.AUDIT_DB_PASSWORD).not.toBe(example.AUDIT_DB_PASSWORD);
    expect(env.NODE_ENV).toBe("production");
    // Every other variable of the example is kept as it is.
    for (const key of Object.keys(example).filter(
      (k) => !["AUDIT_DB_PASSWORD", "NODE_ENV"].includes(k),
    )) {
      expect(env[key]).toBe(example[key] as string);
    }
    // Never printed.
    expect(result.stdout + result.stderr).not.toContain(env.AUDIT_DB_PASSWORD as string);

    const backups = statSync(join(dir, "backups"));
    expect(backups.isDirectory()).toBe(true);
    if (process.getuid?.() === 0) expect(backups.uid).toBe(APP_UID);
  });

  test("never overwrites an existing .env", async () => {
    const dir = await freshServer();
    expect((await manage(["setup", "--dir", dir])).exitCode).toBe(0);
    const first = await readFile(join(dir, ".env"), "utf8");
    const again = await manage(["setup", "--dir", dir]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain(".env exists: left as it is");
    expect(await readFile(join(dir, ".env"), "utf8")).toBe(first);
  });

  test("each server gets its own password", async () => {
    const [a, b] = [await freshServer(), await freshServer()];
    await manage(["setup", "--dir", a]);
    await manage(["setup", "--dir", b]);
    const password = async (dir: string) =>
      parseEnvFile(await readFile(join(dir, ".env"), "utf8")).AUDIT_DB_PASSWORD;
    expect(await password(a)).not.toBe(await password(b));
  });

  test("the generated password works on PostgreSQL, read the way the app reads .env", async () => {
    const dir = await freshServer();
    await manage(["setup", "--dir", dir]);
    const env = parseEnvFile(await readFile(join(dir, ".env"), "utf8"));
    const role = `setup_${process.pid}`;
    // What the postgres image does with POSTGRES_USER/POSTGRES_PASSWORD from this .env.
    const admin = testServerConnection();
    const client = new pg.Client(admin);
    await client.connect();
    try {
      await client.query(
        `CREATE ROLE ${client.escapeIdentifier(role)} LOGIN PASSWORD ${client.escapeLiteral(env.AUDIT_DB_PASSWORD as string)}`,
      );
    } finally {
      await client.end();
    }
    // The compose file sets host and port for the containers; the rest comes from .env.
    const connection = readConnection({
      ...env,
      AUDIT_DB_HOST: admin.host,
      AUDIT_DB_PORT: String(admin.port),
      AUDIT_DB_USER: role,
      AUDIT_DB_NAME: "postgres",
    });
    expect(await query(connection, "SELECT current_user AS who")).toEqual([{ who: role }]);
  });

  test("a development checkout: refused off a terminal (exit 2, nothing written), --yes writes", async () => {
    const dir = await freshServer();
    // What `bun run dev` leaves behind: an embedded cluster in .data/postgres.
    await mkdir(join(dir, ".data", "postgres", "pg"), { recursive: true });
    await writeFile(join(dir, ".data", "postgres", "pg", "PG_VERSION"), "18\n");
    const refused = await manage(["setup", "--dir", dir]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toStartWith(
      `error: This looks like a development checkout (an embedded dev cluster exists in ${join(dir, ".data", "postgres")}): setup writes a production .env`,
    );
    expect(refused.stderr).toContain("Pass --yes to confirm");
    expect(refused.stderr).not.toContain("reset");
    expect(existsSync(join(dir, ".env"))).toBe(false);
    expect(existsSync(join(dir, "backups"))).toBe(false);

    const byEnv = await manage(["setup", "--dir", await freshServer()], {
      env: { NODE_ENV: "development" },
    });
    expect(byEnv.exitCode).toBe(2);
    expect(byEnv.stderr).toContain("(NODE_ENV is development)");

    const confirmed = await manage(["setup", "--dir", dir, "--yes"]);
    expect(confirmed.exitCode).toBe(0);
    expect(existsSync(join(dir, ".env"))).toBe(true);
  });

  test("deploy --dry-run before setup: the plan, with the values setup would choose", async () => {
    const fake = await fakeDocker();
    const dir = await freshServer();
    const dry = await manage(["deploy", "--dir", dir, "--dry-run"], { env: fake.env });
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain(
      "#   no .env yet: ./manage setup writes it from .env.example with AUDIT_DB_PASSWORD=<generated by setup>, NODE_ENV=production; run it before a real deploy",
    );
    expect(dry.stdout).toContain("docker compose");
    expect(dry.stdout).toContain("# Applying migrations");
    expect(await fake.calls()).toEqual([]);
    expect(existsSync(join(dir, ".env"))).toBe(false);
  });

  test("the app's uid in the Dockerfile is the one setup gives backups/", async () => {
    const dockerfile = await readFile(join(PROJECT_ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toContain(`--uid ${APP_UID}`);
  });
});

describe("./manage check", () => {
  test("passes on a complete server checkout", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    const result = await manage(["check", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(0);
    expect(
      result.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[1]),
    ).toEqual(["docker", "compose", "compose", ".env", "config", "backups", "disk"]);
    expect(result.stdout).not.toContain("FAIL");
    expect(result.stderr).toContain("All checks passed");
    expect((await fake.calls()).map(describeCall)).toEqual([
      "version --format {{.Server.Version}}",
      "compose version --short",
      "compose --profile migrate config --quiet",
    ]);
  });

  test("lists every problem at once and exits 30", async () => {
    const fake = await fakeDocker({
      engine: false,
      configError: 'service "backupctl" refers to undefined volume data: invalid compose project',
    });
    const dir = await freshServer();
    await rm(join(dir, "config", "projects.yml"));
    const result = await manage(["check", "--dir", dir], {
      env: { ...fake.env, BACKUPCTL_MIN_FREE_MB: String(1024 * 1024 * 1024) },
    });

    expect(result.exitCode).toBe(30);
    const failed = result.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
    expect(failed.map((l) => l.split(/\s+/)[1])).toEqual([
      "docker",
      "compose",
      ".env",
      "config",
      "backups",
      "disk",
    ]);
    expect(result.stdout).toContain(
      "the Docker engine does not answer: Cannot connect to the Docker daemon",
    );
    expect(result.stdout).toContain("refers to undefined volume data");
    expect(result.stdout).toContain("no .env: run ./manage setup");
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(
      "error: preflight found 6 problem(s): the Docker engine does not answer",
    );
  });

  test("reports an incomplete or readable .env", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout({ AUDIT_DB_PASSWORD: "" });
    await Bun.write(
      join(dir, ".env"),
      "AUDIT_DB_PASSWORD=\nDATABASE_URL=postgres://u:hunter22@x/db\n",
    );
    await chmod(join(dir, ".env"), 0o644);
    const result = await manage(["check", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(30);
    expect(result.stdout).toContain(".env can be read by other users (mode 644)");
    expect(result.stdout).toContain(
      ".env lacks AUDIT_DB_PORT, AUDIT_DB_NAME, AUDIT_DB_USER, NODE_ENV",
    );
    expect(result.stdout).toContain("AUDIT_DB_PASSWORD is empty");
    expect(result.stdout).toContain("DATABASE_URL is set in .env");
    expect(result.stdout + result.stderr).not.toContain("hunter22");
  });

  test("docker not installed at all", async () => {
    const dir = await serverCheckout();
    // A PATH with bun, a shell and git but no docker.
    const path = `${dirname(process.execPath)}:/usr/bin:/bin`;
    const result = await manage(["check", "--dir", dir], { env: { PATH: path } });
    expect(result.exitCode).toBe(30);
    expect(result.stdout).toContain(
      "FAIL  docker        docker is not installed (not found on PATH)",
    );
  });
});

describe("one-line errors", () => {
  test("an unknown command", async () => {
    const result = await manage(["deplyo"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      "error: unknown command deplyo: did you mean deploy? (see ./manage --help)",
    );
  });

  test("an unknown option is refused, never ignored", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    const result = await manage(["deploy", "--dryrun", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      "error: unknown option --dryrun (see ./manage deploy --help)",
    );
    expect(await fake.calls()).toEqual([]);
  });

  test("a missing .env", async () => {
    const fake = await fakeDocker();
    const dir = await freshServer();
    for (const command of ["deploy", "upgrade", "status", "backup-db"]) {
      const result = await manage([command, "--dir", dir], { env: fake.env });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trim()).toBe(`error: no .env in ${dir}: run ./manage setup first`);
    }
    expect(await fake.calls()).toEqual([]);
  });

  test("a missing compose file", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    await rm(join(dir, "docker-compose.yml"));
    const result = await manage(["deploy", "--dir", dir], { env: fake.env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      `error: no docker-compose.yml in ${dir}: run ./manage in the backupctl checkout, or point --dir (or BACKUPCTL_HOME) at it`,
    );
  });

  test("docker not answering: exit 3", async () => {
    const fake = await fakeDocker({ engine: false });
    const dir = await serverCheckout();
    for (const command of [["status"], ["logs"], ["migrate", "show"], ["backup-db"], ["shell"]]) {
      const result = await manage([...command, "--dir", dir], { env: fake.env });
      expect(result.exitCode).toBe(3);
      expect(result.stderr.trim()).toBe(
        "error: the Docker engine does not answer: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running? (is the docker service running, and may this user use it?)",
      );
    }
  });

  test("the checkout comes from --dir (before or after the command) or BACKUPCTL_HOME", async () => {
    const fake = await fakeDocker();
    const dir = await serverCheckout();
    expect((await manage(["--dir", dir, "check"], { env: fake.env })).exitCode).toBe(0);
    expect((await manage([`--dir=${dir}`, "check"], { env: fake.env })).exitCode).toBe(0);
    const home = await manage(["check"], { env: { ...fake.env, BACKUPCTL_HOME: dir } });
    expect(home.exitCode).toBe(0);
    expect(existsSync(join(dir, ".env"))).toBe(true);
  });
});
