import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

const exec = promisify(execFile);
export const packagesDir = fileURLToPath(new URL("../..", import.meta.url));

/** Every package `pnpm release:pack` packs: the non-private ones under packages/. */
export const publishable = readdirSync(packagesDir).filter((name) => {
  try {
    return !JSON.parse(readFileSync(join(packagesDir, name, "package.json"), "utf8")).private;
  } catch {
    return false;
  }
});

/** The environment of a user's shell: none of the workspace's pnpm, vitest or KeyGuard settings. */
export function userEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (name.startsWith("KEYGUARD_") || name.startsWith("npm_") || name === "NODE_PATH") continue;
    if (name.startsWith("VITEST") || name === "NODE_ENV" || name === "TEST") continue;
    env[name] = value;
  }
  return {
    ...env,
    // better-sqlite3 compiles from source where no prebuilt binary can be downloaded.
    npm_config_nodedir: process.env.npm_config_nodedir ?? "/usr",
    npm_config_fund: "false",
    npm_config_audit: "false",
    npm_config_update_notifier: "false",
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    /** A project made by `npm init -y` with every packed tarball installed (and frameworks). */
    packedProject: string;
  }
}

/**
 * What the README's "Installing" section tells a user to do, once for every test file:
 * pack every publishable package, then `npm install` the tarballs with the frameworks and
 * better-sqlite3@12 into a project made by `npm init -y`, outside the workspace.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const work = mkdtempSync(join(tmpdir(), "keyguard-packed-"));
  const app = join(work, "app");
  const env = userEnv();
  const tarballs = join(work, "tarballs");
  mkdirSync(tarballs);
  for (const name of publishable) {
    await exec("pnpm", ["pack", "--pack-destination", tarballs], {
      cwd: join(packagesDir, name),
      timeout: 300_000,
    });
  }
  mkdirSync(app);
  await exec("npm", ["init", "-y"], { cwd: app, env });
  const files = readdirSync(tarballs).map((file) => join(tarballs, file));
  if (files.length !== publishable.length) {
    throw new Error(`expected ${publishable.length} tarballs, got ${files.length}`);
  }
  await exec("npm", ["install", ...files, "express@5", "fastify@5", "koa@3", "better-sqlite3@12"], {
    cwd: app,
    env,
    timeout: 1_100_000,
    maxBuffer: 50_000_000,
  });
  project.provide("packedProject", app);
  return () => rmSync(work, { recursive: true, force: true });
}
