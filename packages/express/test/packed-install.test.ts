import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const packages = fileURLToPath(new URL("../..", import.meta.url));

/**
 * What a user who "installs only the adapter they need" gets: the packed tarballs of the
 * Express adapter and what it depends on, installed into a project outside the workspace,
 * serving a protected route over real HTTP with zero infrastructure.
 */
describe("@keyguard/express installed from its tarball", () => {
  const work = mkdtempSync(join(tmpdir(), "keyguard-smoke-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("protects a route in a fresh project", async () => {
    const tarballs: Record<string, string> = {};
    for (const name of ["core", "store-kysely", "limiter-memory", "admin", "express"]) {
      await exec("pnpm", ["pack", "--pack-destination", work], { cwd: join(packages, name) });
      const file = readdirSync(work).find(
        (f) => f.startsWith(`keyguard-${name}-`) && f.endsWith(".tgz"),
      );
      if (!file) throw new Error(`no tarball for ${name}`);
      tarballs[name] = join(work, file);
    }
    const app = join(work, "app");
    await exec("mkdir", ["-p", app]);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "keyguard-smoke-app",
        private: true,
        type: "module",
        dependencies: {
          "@keyguard/express": `file:${tarballs.express}`,
          express: "^5.1.0",
          "better-sqlite3": "^12.6.2",
        },
      }),
    );
    // The inner packages are not on the registry yet: point their names at the tarballs.
    writeFileSync(
      join(app, "pnpm-workspace.yaml"),
      [
        "overrides:",
        `  "@keyguard/core": "file:${tarballs.core}"`,
        `  "@keyguard/store-kysely": "file:${tarballs["store-kysely"]}"`,
        `  "@keyguard/limiter-memory": "file:${tarballs["limiter-memory"]}"`,
        `  "@keyguard/admin": "file:${tarballs.admin}"`,
        "allowBuilds:",
        "  better-sqlite3: true",
        "",
      ].join("\n"),
    );
    const env: Record<string, string | undefined> = {
      ...process.env,
      npm_config_nodedir: process.env.npm_config_nodedir ?? "/usr",
    };
    for (const name of Object.keys(env)) if (name.startsWith("KEYGUARD_")) delete env[name];
    await exec("pnpm", ["install"], { cwd: app, env, timeout: 600_000 });
    writeFileSync(
      join(app, "server.mjs"),
      `import express from "express";
import { createKeyGuard, keyguard, keyguardAdmin } from "@keyguard/express";
const kg = await createKeyGuard({ secretKey: "smoke-test-secret" });
await kg.createOrganization("Smoke");
const { rawKey } = await kg.createApiKey({ organization: "Smoke", label: "smoke-key" });
const app = express();
app.use("/admin", keyguardAdmin(kg));
app.use(keyguard(kg, { protectedPath: "/api" }));
app.get("/health", (req, res) => res.json({ status: "ok" }));
app.get("/api/data", (req, res) => res.json({ message: "Authorized!", label: req.apiKey.label }));
const server = app.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port, rawKey }));
});
process.on("SIGTERM", () => server.close(() => kg.close().then(() => process.exit(0))));
`,
    );
    const child = spawn(process.execPath, ["server.mjs"], { cwd: app, env });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString()));
        child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
      });
      const { port, rawKey } = JSON.parse(line) as { port: number; rawKey: string };
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const refused = await fetch(`${url}/api/data`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("content-type")).toMatch(/application\/problem\+json/);
      const allowed = await fetch(`${url}/api/data`, { headers: { "x-api-key": rawKey } });
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ message: "Authorized!", label: "smoke-key" });
      expect(allowed.headers.get("x-ratelimit-limit")).toBe("60");
      expect(readdirSync(app)).toContain("keyguard.db");
      const stats = await fetch(`${url}/admin/stats`, {
        headers: { "x-admin-key": "smoke-test-secret" },
      });
      expect(stats.status).toBe(200);
      expect(await stats.json()).toMatchObject({ organizations: 1, total_keys: 1 });
    } finally {
      child.kill("SIGTERM");
    }
  }, 900_000);
});
