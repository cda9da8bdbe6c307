import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard, keyguard } from "@keyguard/express";
import {
  dropSchema,
  eventually,
  postgresAvailable,
  startTcpProxy,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";
import { storedRequests } from "./stored-usage.js";

/** Bounds a failure only: `eventually` returns as soon as the effect is seen. */
const WAIT_MS = 20_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An Express app on a real port, every route protected; clients named by X-Forwarded-For. */
async function serve(kg: KeyGuard): Promise<string> {
  const app = express();
  app.use(keyguard(kg));
  app.get("/item/:n", (_req, res) => {
    res.json({ ok: true });
  });
  const server: Server = app.listen(0);
  await new Promise((resolve) => server.once("listening", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function schemaWithCleanup(label: string): Promise<string> {
  const schema = uniqueSchemaName(label);
  await withPostgresClient((client) => client.query(`create schema ${schema}`));
  cleanups.push(() => dropSchema(schema));
  return schema;
}

/** A PostgreSQL URL through `port` (a proxy) whose tables live in `schema`. */
function urlFor(schema: string, port?: number): string {
  const target = new URL(TEST_POSTGRES_URL);
  if (port !== undefined) target.port = String(port);
  return `${target.href}?options=-c%20search_path%3D${schema}`;
}

describe.runIf(await postgresAvailable())("Usage survives PostgreSQL faults", () => {
  it("writes a batch once when the reply to its COMMIT is lost", async () => {
    const schema = await schemaWithCleanup("lostcommit");
    const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
    cleanups.push(() => proxy.close());
    const errors: unknown[] = [];
    const kg = await createKeyGuard(
      {
        secretKey: EXAMPLE_SECRET,
        databaseUrl: urlFor(schema, proxy.port),
        usage: { flushIntervalMs: 600_000 }, // written only when the test says
      },
      { env: {}, onBackgroundError: (error) => errors.push(error) },
    );
    cleanups.push(() => kg.close().catch(() => {}));
    await kg.createOrganization("Acme");
    const { rawKey, key } = await kg.createApiKey({
      organization: "Acme",
      label: "k",
      rateLimitPerMinute: 100_000,
    });
    const url = await serve(kg);
    const answered = 300;
    for (let i = 0; i < answered; i++) {
      // Distinct paths: one usage row each, 300 rows in the batch.
      const response = await fetch(`${url}/item/${i}`, { headers: { "x-api-key": rawKey } });
      expect(response.status).toBe(200);
    }
    const killed = proxy.killAfterCommit();
    const first = await kg.flushUsage().then(
      () => undefined,
      (error: unknown) => error,
    );
    await killed;
    expect(proxy.commitsKilled).toBe(1);
    // The batch was committed but its writer never heard so: it is sent again.
    if (first !== undefined) await kg.flushUsage();
    expect(kg.usageStats).toMatchObject({ buffered: 0, dropped: 0 });
    expect(await storedRequests(schema, key.id)).toBe(answered);
    expect((await kg.stats()).totalRequests).toBe(answered);
  });

  it("spools usage at SIGTERM during an outage and writes it once at the next start", async () => {
    const schema = await schemaWithCleanup("sigterm");
    const spool = mkdtempSync(join(tmpdir(), "keyguard-spool-"));
    cleanups.push(() => rmSync(spool, { recursive: true, force: true }));
    const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
    cleanups.push(() => proxy.close());
    const admin = await createKeyGuard(
      { secretKey: EXAMPLE_SECRET, databaseUrl: urlFor(schema) },
      { env: {} },
    );
    await admin.createOrganization("Acme");
    const { rawKey, key } = await admin.createApiKey({
      organization: "Acme",
      label: "k",
      rateLimitPerMinute: 100_000,
    });
    await admin.close();

    const env = {
      KEYGUARD_DATABASE_URL: urlFor(schema, proxy.port),
      KEYGUARD_USAGE_SPOOL_DIRECTORY: spool,
    };
    const run = async () => {
      const server = await startExampleProcess("express", env);
      cleanups.push(() => {
        if (server.child.exitCode === null) server.child.kill("SIGKILL");
      });
      return server;
    };
    const call = async (url: string, n: number) => {
      const response = await fetch(`${url}/api/data?n=${n}`, {
        headers: { "x-api-key": rawKey, connection: "close" },
      });
      await response.arrayBuffer();
      return response.status;
    };

    const first = await run();
    let answered = 0;
    for (let i = 0; i < 40; i++) if ((await call(first.url, i)) === 200) answered++;
    await proxy.cut();
    // The key is cached: requests go on being answered while the database is away.
    for (let i = 40; i < 100; i++) if ((await call(first.url, i)) === 200) answered++;
    expect(answered).toBe(100);
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const said = first.output.stdout + first.output.stderr;
    expect(said).not.toMatch(/unhandled|uncaught/i);
    expect(said).toMatch(/The store is unreachable: \d+ usage rows \(\d+ requests\) were spooled/);
    const spooled = Number(/\((\d+) requests\) were spooled/.exec(said)?.[1]);
    expect(spooled).toBeGreaterThan(0);
    expect(readdirSync(spool)).toHaveLength(1);

    await proxy.restore();
    const second = await run();
    await eventually(
      () => expect(second.output.stderr).toMatch(/Usage spool replayed: \d+ rows/),
      WAIT_MS,
    );
    expect(second.output.stderr).toContain(`(${spooled} requests)`);
    expect(readdirSync(spool)).toEqual([]);
    expect(await storedRequests(schema, key.id)).toBe(answered);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(await storedRequests(schema, key.id)).toBe(answered);
  });
});

const databases = [
  {
    name: "SQLite",
    available: true,
    async url() {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-quota-"));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      return `sqlite:${join(directory, "keyguard.db")}`;
    },
  },
  {
    name: "PostgreSQL",
    available: await postgresAvailable(),
    async url() {
      return urlFor(await schemaWithCleanup("quota"));
    },
  },
];

describe.each(databases)("Quota after a restart ($name)", ({ available, url: databaseFor }) => {
  it.runIf(available)("counts only the requests KeyGuard let through", async () => {
    const databaseUrl = await databaseFor();
    const open = async () => {
      const kg = await createKeyGuard(
        { secretKey: EXAMPLE_SECRET, databaseUrl, trustProxy: 1, ipBlockThreshold: 3 },
        { env: {} },
      );
      cleanups.push(() => kg.close());
      return kg;
    };
    let kg = await open();
    await kg.createOrganization("Acme");
    const { rawKey } = await kg.createApiKey({
      organization: "Acme",
      label: "k",
      monthlyLimit: 5,
    });
    let url = await serve(kg);
    const call = async (client: string, key = rawKey) => {
      const response = await fetch(`${url}/item/1`, {
        headers: { "x-api-key": key, "x-forwarded-for": client },
      });
      const body = (await response.json()) as { code?: string };
      return body.code ?? String(response.status);
    };
    expect([await call("198.51.100.1"), await call("198.51.100.1")]).toEqual(["200", "200"]);
    // Three wrong keys block 198.51.100.9; the valid key is then refused there, ten times.
    for (let i = 0; i < 3; i++) await call("198.51.100.9", `${rawKey.slice(0, -1)}x`);
    const refused = [];
    for (let i = 0; i < 10; i++) refused.push(await call("198.51.100.9"));
    expect(refused).toEqual(Array(10).fill("ip_blocked"));
    await kg.close();

    // A restart seeds the quota from the store: 2 charged, 3 left.
    kg = await open();
    url = await serve(kg);
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await call("198.51.100.1"));
    expect(after).toEqual(["200", "200", "200", "quota_exceeded"]);
  });
});
