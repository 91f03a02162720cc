import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defineCommand } from "citty";
import { confirm } from "../../src/cli/args.ts";
import { ManageError } from "../../src/cli/errors.ts";
import { addSecret, out } from "../../src/cli/output.ts";
import { devDataDir, hasCluster } from "../../src/devdb/dev-data.ts";
import { dirArg } from "./lib/args.ts";
import { displayPath } from "./lib/backup.ts";
import { loadContext } from "./lib/context.ts";

/** The uid the app runs as in its image (Dockerfile, `useradd --uid 10001`). */
export const APP_UID = 10001;

export const setup = defineCommand({
  meta: {
    name: "setup",
    description:
      "Create .env from .env.example with a generated database password (mode 600) and the folders the app needs; never overwrites .env",
  },
  args: {
    ...dirArg,
    yes: {
      type: "boolean",
      alias: "y",
      description: "write .env even in what looks like a development checkout",
    },
  },
  run: async ({ args }) => {
    const ctx = await loadContext(args.dir, { env: false, compose: false });
    const development = existsSync(ctx.envFile) ? undefined : developmentCheckout(ctx.root);
    if (development) {
      await confirm(
        `This looks like a development checkout (${development}): setup writes a production .env (NODE_ENV=production, a new AUDIT_DB_PASSWORD) that \`bun run dev\` would then use too.`,
        Boolean(args.yes),
      );
    }
    await createBackupsDir(ctx.backupsDir, displayPath(ctx, ctx.backupsDir));

    if (existsSync(ctx.envFile)) {
      out.success(".env exists: left as it is");
      const mode = statSync(ctx.envFile).mode & 0o777;
      if (mode & 0o077) {
        out.warn(`.env can be read by other users (mode ${mode.toString(8)}): chmod 600 .env`);
      }
    } else {
      if (!existsSync(ctx.envExample)) {
        throw new ManageError("usage", `no .env.example in ${ctx.root} to create .env from`);
      }
      const password = randomBytes(24).toString("base64url");
      addSecret(password);
      const text = serverEnv(await Bun.file(ctx.envExample).text(), setupValues(password));
      // "wx": never replaces a file, even one created since the check above.
      await writeFile(ctx.envFile, text, { mode: 0o600, flag: "wx" });
      await chmod(ctx.envFile, 0o600);
      out.success("Created .env (mode 600) with a generated AUDIT_DB_PASSWORD");
    }

    if (!existsSync(join(ctx.root, "config", "projects.yml"))) {
      out.progress(
        "Next: copy config/projects.example.yml to config/projects.yml and describe your backups in it; then ./manage check",
      );
    } else out.progress("Next: ./manage check, then ./manage deploy");
  },
});

/** What setup puts into .env.example's copy: the values `deploy --dry-run` shows before setup ran. */
export function setupValues(password: string): Record<string, string> {
  return { AUDIT_DB_PASSWORD: password, NODE_ENV: "production" };
}

/**
 * Why this checkout looks like a development one, or undefined. There, a production .env would
 * take over `bun run dev` (its NODE_ENV and a password the dev cluster was not created with).
 */
export function developmentCheckout(
  root: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const data = devDataDir(root);
  if (hasCluster(data)) return `an embedded dev cluster exists in ${data}`;
  if (env.NODE_ENV === "development") return "NODE_ENV is development";
  return undefined;
}

/**
 * The backups folder is bind-mounted into the app container, which runs as uid 10001: when
 * setup runs as root, that user gets the folder so the app can write its backups there.
 */
async function createBackupsDir(dir: string, shown: string): Promise<void> {
  if (existsSync(dir)) return;
  await mkdir(dir, { recursive: true, mode: 0o750 });
  if (process.getuid?.() === 0) await chown(dir, APP_UID, APP_UID);
  out.success(`Created ${shown}/`);
}

/**
 * .env.example with the given values: an uncommented `KEY=` line gets the new value, a key the
 * example lacks is added at the end.
 */
export function serverEnv(example: string, values: Record<string, string>): string {
  const pending = new Map(Object.entries(values));
  const lines = example.split("\n").map((line) => {
    const key = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1];
    if (!key || !pending.has(key)) return line;
    const value = pending.get(key) as string;
    pending.delete(key);
    return `${key}=${value}`;
  });
  const header = [
    `# Written by ./manage setup on ${new Date().toISOString()} from .env.example.`,
    "# docker-compose.yml sets NODE_ENV, AUDIT_DB_HOST and AUDIT_DB_PORT for the containers itself.",
  ];
  const extra = [...pending].map(([key, value]) => `${key}=${value}`);
  return `${[...header, ...lines, ...extra].join("\n").trimEnd()}\n`;
}
