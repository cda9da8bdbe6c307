import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import {
  dropSchema,
  postgresAvailable,
  startTcpProxy,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";

const REQUEST_TIMEOUT_MS = 400;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Sends `head` on a keep-alive connection and stalls; resolves when the server closes it. */
function stall(url: string, head: string, giveUpMs: number) {
  const { hostname, port } = new URL(url);
  return new Promise<{ raw: string; closedByServer: boolean }>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    const chunks: Buffer[] = [];
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, giveUpMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks).toString("utf8"), closedByServer });
    });
  });
}

function expectProblem(raw: string, status: number, code: string) {
  const [head = "", body = ""] = raw.split("\r\n\r\n");
  expect(head.split("\r\n")[0], raw).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(head).toMatch(/content-type: application\/problem\+json/i);
  expect(JSON.parse(body)).toMatchObject({ status, code });
}

async function sqliteExample(framework: string) {
  const directory = mkdtempSync(join(tmpdir(), `keyguard-hostile-${framework}-`));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
  const admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
  await admin.close();
  const server = await startExampleProcess(framework, {
    KEYGUARD_DATABASE_URL: databaseUrl,
    REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  });
  cleanups.push(() => void server.child.kill("SIGKILL"));
  return server;
}

describe.each(["express", "fastify", "koa"])(
  "example app (%s) against hostile clients",
  (framework) => {
    it("answers a request body that stalls 408 and closes the connection", async () => {
      const server = await sqliteExample(framework);
      const host = new URL(server.url).host;
      const stalled = (path: string) =>
        stall(
          server.url,
          `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Admin-Key: ${EXAMPLE_SECRET}\r\n` +
            `Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{"name":"Sl`,
          REQUEST_TIMEOUT_MS * 25,
        );
      // The admin API waits for the body: its answer is the 408.
      const admin = await stalled("/admin/orgs");
      expect(admin.closedByServer, admin.raw).toBe(true);
      expectProblem(admin.raw, 408, "request_timeout");
      // Express's and Koa's /login answer without reading the body (Fastify's parses it);
      // the rest never comes, and the connection is closed with a 408 all the same, as
      // Node itself does.
      const login = await stalled("/login");
      expect(login.closedByServer, login.raw).toBe(true);
      expect(login.raw).toMatch(/HTTP\/1\.1 408 [\s\S]*"code":"request_timeout"/);
    });

    it("answers headers that never finish 408", async () => {
      const server = await sqliteExample(framework);
      const exchange = await stall(
        server.url,
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a",
        10_000,
      );
      expect(exchange.closedByServer).toBe(true);
      expectProblem(exchange.raw, 408, "request_timeout");
    });

    it("answers docs asset names that are Object.prototype's 404, logging nothing", async () => {
      const server = await sqliteExample(framework);
      let stderr = "";
      server.child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const names = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];
      for (const name of names) {
        const response = await fetch(`${server.url}/docs/${name}`);
        expect(response.status, name).toBe(404);
        await response.arrayBuffer();
      }
      // Swagger UI's own files are still served.
      expect((await fetch(`${server.url}/docs/swagger-ui.css`)).status).toBe(200);
      expect(stderr).toBe("");
    });

    it("never answers a body it cannot read with the parser's message", async () => {
      const server = await sqliteExample(framework);
      const response = await fetch(`${server.url}/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"user": "a", ',
      });
      const text = await response.text();
      if (framework === "fastify") {
        // Fastify parses JSON bodies of every route; Express and Koa's /login reads none.
        expect(response.status).toBe(400);
        expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(text)).toMatchObject({ code: "bad_request" });
        expect(text).not.toMatch(/JSON|position|FST_/);
      } else {
        expect(response.status).toBe(200);
      }
    });
  },
);

describe.runIf(await postgresAvailable())("example app when the database goes away", () => {
  it.each(["express", "fastify", "koa"])(
    "%s: a handler's failure is 503 problem+json naming no host; stderr has it",
    async (framework) => {
      const schema = uniqueSchemaName("hostile");
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      cleanups.push(() => dropSchema(schema));
      const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
      cleanups.push(() => proxy.close());
      const direct = `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`;
      const target = new URL(TEST_POSTGRES_URL);
      target.port = String(proxy.port);
      const admin = await createKeyGuard(
        { secretKey: EXAMPLE_SECRET, databaseUrl: direct },
        { env: {} },
      );
      cleanups.push(() => admin.close());
      await admin.createOrganization("Acme Corp");
      const { rawKey } = await admin.createApiKey({ organization: "Acme Corp", label: "k" });

      const server = await startExampleProcess(framework, {
        KEYGUARD_DATABASE_URL: `${target.href}?options=-c%20search_path%3D${schema}`,
      });
      cleanups.push(() => void server.child.kill("SIGKILL"));
      let stderr = "";
      server.child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const headers = { "x-api-key": rawKey };
      expect((await fetch(`${server.url}/api/data`, { headers })).status).toBe(200); // cached

      await proxy.cut();
      // The key is verified from the cache; blockRequest then fails to store the block.
      const response = await fetch(`${server.url}/api/withdraw`, { method: "POST", headers });
      const text = await response.text();
      expect(response.status, text).toBe(503);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(text)).toMatchObject({ code: "database_unavailable", status: 503 });
      expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres|\bat |\/work\/|node_modules/i);
      await expect.poll(() => stderr, { timeout: 5_000 }).toMatch(/database is unavailable/);
    },
  );
});
