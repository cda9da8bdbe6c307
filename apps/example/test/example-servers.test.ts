import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createKeyGuard } from "@keyguard/express";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";

const SECRET = EXAMPLE_SECRET;
const dist = fileURLToPath(new URL("../dist/", import.meta.url));

describe.each(["express", "fastify", "koa"])("example app: %s", (framework) => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it("serves keyguard-python's routes and writes usage on SIGTERM", async () => {
    const directory = mkdtempSync(join(tmpdir(), `keyguard-example-${framework}-`));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
    const admin = await createKeyGuard({ secretKey: SECRET, databaseUrl }, { env: {} });
    await admin.createOrganization("Acme Corp");
    const { rawKey, key } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "example",
      scopes: ["read"],
    });

    const server = await startExampleProcess(framework, { KEYGUARD_DATABASE_URL: databaseUrl });
    cleanups.push(() => server.child.kill("SIGKILL"));
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { headers });
    const post = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { method: "POST", headers });

    expect(await (await get("/health")).json()).toEqual({ status: "ok" });
    const refused = await get("/api/data");
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe("missing_api_key");
    const data = await get("/api/data", { "x-api-key": rawKey });
    expect(data.status).toBe(200);
    expect(await data.json()).toEqual({ message: "Authorized!" });
    expect(data.headers.get("x-ratelimit-limit")).toBe("60");
    expect(await (await get("/api/profile", { "x-api-key": rawKey })).json()).toEqual({
      org_id: key.orgId,
      key_label: "example",
      scopes: ["read"],
    });

    for (let i = 0; i < 5; i++) expect((await post("/login")).status).toBe(200);
    // The whole lockout is one answer: 403 ip_blocked with the seconds left.
    const locked = await post("/login");
    expect(locked.status).toBe(403);
    expect(locked.headers.get("retry-after")).toBe("900");
    expect(await locked.json()).toMatchObject({
      code: "ip_blocked",
      detail: "This client is blocked for another 900 s.",
    });
    const again = await post("/login");
    expect(again.status).toBe(403);
    expect(await again.json()).toMatchObject({ code: "ip_blocked" });

    const withdraw = await post("/api/withdraw", { "x-api-key": rawKey });
    expect(await withdraw.json()).toEqual({
      error: "Suspicious activity. Endpoint locked for 1 hour.",
    });
    expect((await post("/api/withdraw", { "x-api-key": rawKey })).status).toBe(403);

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const stats = await admin.stats();
    // data, profile and the first withdraw; the blocked withdraw is refused before its key is read.
    expect(stats.totalRequests).toBe(3);
    await admin.close();
  });
});

describe("example app without a secret", () => {
  it("exits with one clear line", async () => {
    const env: Record<string, string | undefined> = { ...process.env, PORT: "0" };
    delete env.KEYGUARD_SECRET_KEY;
    const child = spawn(process.execPath, [join(dist, "express.js")], { env, cwd: tmpdir() });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      "keyguard example: secretKey is required: pass it or set KEYGUARD_SECRET_KEY",
    );
  });
});

/** Runs one example server to its exit; its exit code and stderr. */
async function runToExit(framework: string, env: Record<string, string>) {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("KEYGUARD_")) inherited[name] = value;
  }
  const child = spawn(process.execPath, [join(dist, `${framework}.js`)], {
    env: { ...inherited, ...env },
    cwd: tmpdir(),
  });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise((resolve) => child.once("exit", resolve));
  return { code, stderr, stdout };
}

const pgAvailable = await postgresAvailable();

/** A database for one test: a SQLite file, or a PostgreSQL schema of its own. */
const databases = [
  {
    name: "SQLite",
    async create() {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-example-secret-"));
      return {
        url: `sqlite:${join(directory, "keyguard.db")}`,
        dispose: async () => rmSync(directory, { recursive: true, force: true }),
      };
    },
  },
  ...(pgAvailable
    ? [
        {
          name: "PostgreSQL",
          async create() {
            const schema = uniqueSchemaName("example_secret");
            await withPostgresClient((client) => client.query(`create schema ${schema}`));
            return {
              url: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`,
              dispose: () => dropSchema(schema),
            };
          },
        },
      ]
    : []),
];

describe.each(["express", "fastify", "koa"])("example app start-up refusals: %s", (framework) => {
  it.each(databases)(
    "refuses, in one line, a secret the database's keys were not made with ($name)",
    async ({ create }) => {
      const database = await create();
      try {
        const admin = await createKeyGuard(
          { secretKey: SECRET, databaseUrl: database.url },
          { env: {} },
        );
        await admin.close();
        const result = await runToExit(framework, {
          PORT: "0",
          KEYGUARD_SECRET_KEY: "not-the-database-secret",
          KEYGUARD_DATABASE_URL: database.url,
        });
        expect(result.code).toBe(1);
        expect(result.stdout).toBe("");
        expect(result.stderr.trim()).toMatch(
          /^keyguard example: secretKey \(fingerprint [0-9a-f]{12}\) is not the secret this database's keys are hashed with \(fingerprint [0-9a-f]{12}\)[^\n]*$/,
        );
        // The right secret starts (and stops) as ever.
        const server = await startExampleProcess(framework, {
          KEYGUARD_DATABASE_URL: database.url,
        });
        server.child.kill("SIGTERM");
        expect(await server.exited).toBe(0);
      } finally {
        await database.dispose();
      }
    },
  );

  it("a taken port is one line and exit 1, not a stack trace", async () => {
    const directory = mkdtempSync(join(tmpdir(), "keyguard-example-port-"));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const result = await runToExit(framework, {
        PORT: port,
        KEYGUARD_SECRET_KEY: SECRET,
        KEYGUARD_DATABASE_URL: `sqlite:${join(directory, "keyguard.db")}`,
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `keyguard example: port ${port} is already in use (is another server still running? Stop it, or set PORT to another port).`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
