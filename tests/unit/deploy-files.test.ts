import { describe, expect, test } from "bun:test";
import { copyFile, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { PROJECT_ROOT } from "../../src/db/paths.ts";
import { run } from "../support/project.ts";

/**
 * No Docker engine runs on the machines this is developed and tested on, so the compose files
 * and the Dockerfile are checked by structure, by docker-compose's own validator and by a
 * Dockerfile linter; the binary itself is tested in a minimal root filesystem elsewhere.
 */

type Service = {
  image?: string;
  build?: { context: string; target: string };
  profiles?: string[];
  env_file?: string | string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
  restart?: string;
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

async function compose(file: string): Promise<Compose> {
  return Bun.YAML.parse(await Bun.file(join(PROJECT_ROOT, file)).text()) as Compose;
}

/** A value that names a secret must come from the environment (.env), never be written inline. */
function inlineSecrets(doc: Compose): string[] {
  const found: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (
        /PASSWORD|SECRET|TOKEN|DATABASE_URL/i.test(key) &&
        !/^\$\{[A-Z_]+(:?[-?][^}]*)?\}$/.test(String(value))
      ) {
        found.push(`${name}.${key}`);
      }
    }
  }
  return found;
}

async function composeConfigValid(file: string): Promise<{ exitCode: number; stderr: string }> {
  // docker-compose v1 validates without an engine; it needs the .env the file interpolates from.
  const dir = join(PROJECT_ROOT, ".data", `compose-check-${process.pid}`);
  await Bun.write(join(dir, "placeholder"), "");
  await copyFile(join(PROJECT_ROOT, file), join(dir, file));
  await copyFile(join(PROJECT_ROOT, ".env.example"), join(dir, ".env"));
  try {
    return await run(["docker-compose", "-f", file, "--profile", "migrate", "config", "-q"], {
      cwd: dir,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("docker-compose.yml", () => {
  test("is valid for docker-compose", async () => {
    const result = await composeConfigValid("docker-compose.yml");
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("the audit database: postgres 16, health-checked with pg_isready, a named volume, no published port", async () => {
    const db = (await compose("docker-compose.yml")).services["backupctl-audit-db"] as Service;
    expect(db.image).toMatch(/^postgres:16(\.|-|$)/);
    expect(db.healthcheck?.test.join(" ")).toContain("pg_isready");
    expect(db.ports).toBeUndefined();
    expect(String(db.volumes)).toContain("audit-db-data:/var/lib/postgresql/data");
  });

  test("the migrator: its own image target, only under the migrate profile, after the database is healthy", async () => {
    const migrator = (await compose("docker-compose.yml")).services.migrator as Service;
    expect(migrator.build?.target).toBe("migrator");
    expect(migrator.profiles).toEqual(["migrate"]);
    expect(migrator.depends_on?.["backupctl-audit-db"]?.condition).toBe("service_healthy");
    expect(migrator.restart).toBe("no");
    expect(migrator.env_file).toBe(".env");
  });

  test("the app waits for a healthy database and checks its own health", async () => {
    const app = (await compose("docker-compose.yml")).services.backupctl as Service;
    expect(app.depends_on?.["backupctl-audit-db"]?.condition).toBe("service_healthy");
    expect(app.healthcheck?.test).toBeDefined();
    expect(app.profiles).toBeUndefined();
  });

  test("no secret is written inline", async () => {
    expect(inlineSecrets(await compose("docker-compose.yml"))).toEqual([]);
    expect(inlineSecrets(await compose("docker-compose.dev.yml"))).toEqual([]);
  });
});

describe("docker-compose.dev.yml", () => {
  test("is valid and runs the field's major version with a health check on loopback only", async () => {
    const result = await composeConfigValid("docker-compose.dev.yml");
    expect(result.exitCode).toBe(0);
    const postgres = (await compose("docker-compose.dev.yml")).services.postgres as Service;
    expect(postgres.image).toMatch(/^postgres:16/);
    expect(postgres.healthcheck?.test.join(" ")).toContain("pg_isready");
    expect(postgres.ports?.every((port) => port.startsWith("127.0.0.1:"))).toBe(true);
  });
});

/** The Dockerfile's stages: name → its instructions (keyword and rest of line). */
async function dockerfileStages(): Promise<Map<string, { from: string; lines: string[] }>> {
  const text = (await Bun.file(join(PROJECT_ROOT, "Dockerfile")).text()).replace(/\\\n/g, " ");
  const stages = new Map<string, { from: string; lines: string[] }>();
  let current: { from: string; lines: string[] } | undefined;
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (!line || line.startsWith("#")) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = { from: from[1] as string, lines: [] };
      stages.set(from[2] ?? `stage${stages.size}`, current);
    } else current?.lines.push(line);
  }
  return stages;
}

/** A stage's COPY/ADD instructions, read as what they do: from where, which files, to where. */
function copiesOf(stage: { lines: string[] } | undefined) {
  return (stage?.lines ?? [])
    .filter((line) => /^(COPY|ADD)\s/i.test(line))
    .map((line) => {
      const words = line.split(/\s+/).slice(1);
      const flags = words.filter((w) => w.startsWith("--"));
      const paths = words.filter((w) => !w.startsWith("--"));
      const dest = paths.at(-1) as string;
      const sources = paths.slice(0, -1);
      const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
      // `COPY a /dir/` puts a at /dir/a.
      const files = sources.map((src) =>
        dest.endsWith("/") ? posix.join(dest, posix.basename(src)) : dest,
      );
      return { from, sources, files };
    });
}

/** The program an exec-form ENTRYPOINT runs. */
function entrypointOf(stage: { lines: string[] } | undefined): string | undefined {
  const line = stage?.lines.findLast((l) => /^ENTRYPOINT\s/i.test(l));
  return line ? (JSON.parse(line.replace(/^ENTRYPOINT\s+/i, "")) as string[])[0] : undefined;
}

/** Where `bun run build` (scripts/build.ts, default --outdir dist) leaves a binary in the builder. */
function builtBinary(stages: Awaited<ReturnType<typeof dockerfileStages>>, name: string): string {
  const workdirs = [...(stages.get("deps")?.lines ?? []), ...(stages.get("builder")?.lines ?? [])]
    .filter((l) => /^WORKDIR\s/i.test(l))
    .map((l) => l.replace(/^WORKDIR\s+/i, ""));
  return posix.join(workdirs.at(-1) ?? "/", "dist", name);
}

describe("Dockerfile", () => {
  test("passes dockerfile-utils lint", async () => {
    const lint = await run(
      [join(PROJECT_ROOT, "node_modules", ".bin", "dockerfile-utils"), "lint", "Dockerfile"],
      {
        cwd: PROJECT_ROOT,
      },
    );
    expect(lint.stdout + lint.stderr).toBe("");
    expect(lint.exitCode).toBe(0);
  });

  test("has the deps, builder, migrator and runtime stages; deps installs exactly the lockfile", async () => {
    const stages = await dockerfileStages();
    expect([...stages.keys()]).toEqual(["deps", "builder", "migrator", "runtime"]);
    expect(stages.get("deps")?.lines.join("\n")).toContain("bun install --frozen-lockfile");
    expect(stages.get("builder")?.lines.join("\n")).toContain("bun run build");
  });

  test("the migrator image is the binary alone, on a slim glibc base, as a non-root user", async () => {
    const stages = await dockerfileStages();
    const migrator = stages.get("migrator");
    expect(migrator?.from).toMatch(/^gcr\.io\/distroless\/cc/);
    // It contains one file, the migrator the builder compiled, and runs that file.
    const copies = copiesOf(migrator);
    expect(copies.map((c) => [c.from, c.sources])).toEqual([
      ["builder", [builtBinary(stages, "migrator")]],
    ]);
    expect(entrypointOf(migrator)).toBe(copies[0]?.files[0]);
    expect(migrator?.lines.some((l) => /^RUN\b/i.test(l))).toBe(false);
    expect(migrator?.lines).toContain("USER nonroot");
    expect(migrator?.lines).toContain('CMD ["run"]');
  });
});

describe("Dockerfile runtime stage", () => {
  test("the app binary without Bun, node, npm or npx, as a non-root user, serving on 8080", async () => {
    const stages = await dockerfileStages();
    const runtime = stages.get("runtime");
    expect(runtime?.from).not.toMatch(/bun|node/i);
    const text = runtime?.lines.join("\n") ?? "";
    expect(text).not.toMatch(/\b(npm|npx|bun|nodejs|node)\b/);
    // It contains the app the builder compiled, and runs that file.
    const copies = copiesOf(runtime);
    expect(copies.map((c) => [c.from, c.sources])).toEqual([
      ["builder", [builtBinary(stages, "backupctl")]],
    ]);
    expect(entrypointOf(runtime)).toBe(copies[0]?.files[0]);
    expect(runtime?.lines).toContain("USER backupctl");
    expect(runtime?.lines).toContain('CMD ["serve", "--port", "8080"]');
    // Backups are shell commands running pg_dump: the field's major version must be there.
    expect(text).toContain("postgresql-client-16");
  });

  test("compose runs the app from the runtime stage with its config and state where the image expects them", async () => {
    const app = (await compose("docker-compose.yml")).services.backupctl as Service;
    expect(app.build?.target).toBe("runtime");
    const binary = entrypointOf((await dockerfileStages()).get("runtime"));
    expect(app.volumes).toEqual(
      expect.arrayContaining(["./config:/app/config:ro", "backupctl-data:/app/data"]),
    );
    // The health check runs the binary the image runs.
    expect(binary).toBeDefined();
    expect(app.healthcheck?.test).toEqual(["CMD", binary as string, "health"]);
  });
});
