import { execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { userEnv } from "./packed-project.js";

const exec = promisify(execFile);

/** A server script per adapter; each prints `{ port, rawKey }` once it listens. */
const servers: Record<string, string> = {
  // CommonJS, as `require` users write it.
  "express.cjs": `const express = require("express");
const { answerClientError, createKeyGuard, keyguard, keyguardAdminDocs, keyguardDashboard, problemErrorHandler } = require("@keyguard/express");
(async () => {
  const kg = await createKeyGuard({ secretKey: "smoke-test-secret", databaseUrl: "sqlite:express.db" });
  await kg.createOrganization("Smoke");
  const { rawKey } = await kg.createApiKey({ organization: "Smoke", label: "express-key" });
  const app = express();
  app.use("/docs", keyguardAdminDocs({ openApiUrl: "/admin/openapi.json" }));
  app.use("/dashboard", keyguardDashboard({ adminApiUrl: "/admin" }));
  app.use(keyguard(kg, { protectedPath: "/api" }));
  app.get("/api/data", (req, res) => res.json({ message: "Authorized!", label: req.apiKey.label }));
  app.use(problemErrorHandler());
  const server = app.listen(0, "127.0.0.1", () => {
    console.log(JSON.stringify({ port: server.address().port, rawKey }));
  });
  server.on("clientError", answerClientError);
  process.on("SIGTERM", () => server.close(() => kg.close().then(() => process.exit(0))));
})();
`,
  // ESM.
  "fastify.mjs": `import Fastify from "fastify";
import { answerClientError, createKeyGuard, keyguard, problemErrorHandler } from "@keyguard/fastify";
const kg = await createKeyGuard({ secretKey: "smoke-test-secret", databaseUrl: "sqlite:fastify.db" });
await kg.createOrganization("Smoke");
const { rawKey } = await kg.createApiKey({ organization: "Smoke", label: "fastify-key" });
const app = Fastify({ clientErrorHandler: answerClientError });
app.setErrorHandler(problemErrorHandler);
await app.register(keyguard, { kg, protectedPath: "/api" });
app.get("/api/data", async (request) => ({ message: "Authorized!", label: request.apiKey.label }));
await app.listen({ port: 0, host: "127.0.0.1" });
console.log(JSON.stringify({ port: app.server.address().port, rawKey }));
process.on("SIGTERM", () => app.close().then(() => kg.close()).then(() => process.exit(0)));
`,
  "koa.mjs": `import Koa from "koa";
import { answerClientError, createKeyGuard, keyguard, problemErrorHandler } from "@keyguard/koa";
const kg = await createKeyGuard({ secretKey: "smoke-test-secret", databaseUrl: "sqlite:koa.db" });
await kg.createOrganization("Smoke");
const { rawKey } = await kg.createApiKey({ organization: "Smoke", label: "koa-key" });
const app = new Koa();
app.use(problemErrorHandler());
app.use(keyguard(kg, { protectedPath: "/api" }));
app.use((ctx) => {
  if (ctx.path === "/api/data") ctx.body = { message: "Authorized!", label: ctx.state.apiKey.label };
});
const server = app.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port, rawKey }));
});
server.on("clientError", answerClientError);
process.on("SIGTERM", () => server.close(() => kg.close().then(() => process.exit(0))));
`,
};

/**
 * The packed packages as a user installs them (test/packed-project.ts): one install serves
 * all three adapters and the CLI.
 */
describe("the packed packages, installed with npm into a fresh project", () => {
  const app = inject("packedProject");
  const env = userEnv();

  beforeAll(() => {
    for (const [file, source] of Object.entries(servers)) writeFileSync(join(app, file), source);
  });

  const serve = async (script: string, check: (url: string, rawKey: string) => Promise<void>) => {
    const child = spawn(process.execPath, [script], { cwd: app, env });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString()));
        child.once("exit", (code, signal) =>
          reject(new Error(`${script} exited (${code ?? signal}): ${stderr}`)),
        );
      });
      const { port, rawKey } = JSON.parse(line) as { port: number; rawKey: string };
      await check(`http://127.0.0.1:${port}`, rawKey);
    } finally {
      child.kill("SIGTERM");
    }
  };

  const expectGuarded = async (url: string, rawKey: string, label: string) => {
    const refused = await fetch(`${url}/api/data`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await refused.json()).toMatchObject({ code: "missing_api_key" });
    const allowed = await fetch(`${url}/api/data`, { headers: { "x-api-key": rawKey } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ message: "Authorized!", label });
    expect(allowed.headers.get("x-ratelimit-limit")).toBe("60");
  };

  it("Express, from CommonJS: 401 without a key, 200 with one, /docs says what is missing, the dashboard's files are in the package", async () => {
    await serve("express.cjs", async (url, rawKey) => {
      await expectGuarded(url, rawKey, "express-key");
      const docs = await fetch(`${url}/docs/`);
      expect(docs.status).toBe(503);
      expect(await docs.text()).toContain("npm install swagger-ui-dist");
      const dashboard = await fetch(`${url}/dashboard`);
      expect(dashboard.status).toBe(200);
      expect(dashboard.headers.get("content-security-policy")).toContain("script-src 'self'");
      const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(await dashboard.text())?.[1];
      expect((await fetch(`${url}${script}`)).status).toBe(200);
    });
  });

  it("Fastify, from ESM", async () => {
    await serve("fastify.mjs", (url, rawKey) => expectGuarded(url, rawKey, "fastify-key"));
  });

  it("Koa, from ESM", async () => {
    await serve("koa.mjs", (url, rawKey) => expectGuarded(url, rawKey, "koa-key"));
  });

  it("the keyguard command reads the same database", async () => {
    const keyguard = join(app, "node_modules", ".bin", "keyguard");
    const { stdout } = await exec(keyguard, ["list-keys", "--db", "sqlite:koa.db"], {
      cwd: app,
      env,
      timeout: 120_000,
    });
    expect(stdout).toMatch(/koa-key\s+kg_live_\S{4}\s+Smoke\s+active/);
  });
});
