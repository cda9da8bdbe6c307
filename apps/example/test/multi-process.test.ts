import { createKeyGuard, type KeyGuard } from "@keyguard/express";
import {
  deleteRedisKeys,
  dropSchema,
  postgresAvailable,
  redisAvailable,
  TEST_POSTGRES_URL,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";

const available = (await postgresAvailable()) && (await redisAvailable());

/**
 * The seed's production setup: three servers (one per framework) behind an imaginary load
 * balancer, sharing PostgreSQL for keys and usage and Redis for limits, blocks and change
 * notices, configured by environment only.
 */
describe.runIf(available)("example servers sharing PostgreSQL and Redis", () => {
  const schema = uniqueSchemaName("multi");
  const prefix = uniqueRedisPrefix("multi");
  const env = {
    KEYGUARD_DATABASE_URL: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`,
    KEYGUARD_REDIS_URL: TEST_REDIS_URL,
    KEYGUARD_REDIS_PREFIX: prefix,
    // Each revoked key below is refused (401) at least once: this client's 200 failures
    // must not block it (the default threshold, 100 per hour, is tested elsewhere).
    KEYGUARD_IP_BLOCK_THRESHOLD: "100000",
  };
  let servers: ExampleProcess[] = [];
  let admin: KeyGuard;

  beforeAll(async () => {
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    // The operator's tooling: a KeyGuard on the same database and Redis (what the CLI does).
    admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET }, { env });
    await admin.createOrganization("Acme Corp");
    servers = await Promise.all(
      ["express", "fastify", "koa"].map((framework) => startExampleProcess(framework, env)),
    );
  });

  afterAll(async () => {
    for (const server of servers) server.child.kill("SIGTERM");
    await Promise.all(servers.map((server) => server.exited));
    await admin?.close();
    await dropSchema(schema);
    await deleteRedisKeys(prefix);
  });

  const get = (server: ExampleProcess, path: string, rawKey: string) =>
    fetch(`${server.url}${path}`, { headers: { "x-api-key": rawKey } });

  it("allows exactly a key's limit across all processes under concurrent load", async () => {
    const { rawKey } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "shared-limit",
      rateLimitPerMinute: 50,
    });
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        get(servers[i % 3] as ExampleProcess, "/api/data", rawKey),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(50);
    expect(statuses.filter((status) => status === 429)).toHaveLength(250);
    // Every process answered some of each (the limit is shared, not per process).
    for (let s = 0; s < 3; s++) {
      expect(statuses.filter((status, i) => i % 3 === s && status === 429).length).toBeGreaterThan(
        0,
      );
    }
    const refused = responses.find((response) => response.status === 429) as Response;
    expect(refused.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  // 200 samples: over fewer than 101 the p99 is simply the slowest one.
  it("refuses a revoked key in every other process within 100 ms (p99 over 200 revocations)", async () => {
    const keys = [];
    for (let i = 0; i < 200; i++) {
      keys.push(
        await admin.createApiKey({
          organization: "Acme Corp",
          label: `revoke-${i}`,
          rateLimitPerMinute: 100_000,
        }),
      );
    }
    // Every server has every key cached (valid for the next 30 s without a notice).
    for (const server of servers) {
      for (const { rawKey } of keys)
        expect((await get(server, "/api/data", rawKey)).status).toBe(200);
    }
    const latencies: number[] = [];
    for (const [i, { rawKey, key }] of keys.entries()) {
      const watcher = servers[i % 3] as ExampleProcess;
      // From the moment the revocation is stored and announced, until another process refuses.
      await admin.revokeApiKey(key.id);
      const started = performance.now();
      for (;;) {
        const response = await get(watcher, "/api/data", rawKey);
        if (response.status === 401) {
          expect(((await response.json()) as { code: string }).code).toBe("revoked_api_key");
          break;
        }
        expect(response.status).toBe(200);
        expect(performance.now() - started).toBeLessThan(5_000);
      }
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1] as number;
    console.log(
      `revoke -> refusal elsewhere: median ${latencies[100]?.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, slowest ${latencies.at(-1)?.toFixed(1)} ms`,
    );
    expect(p99).toBeLessThan(100);
  });

  it("applies a block made by one process in every other at once", async () => {
    const { rawKey } = await admin.createApiKey({ organization: "Acme Corp", label: "blocks" });
    const [express, fastify, koa] = servers as [ExampleProcess, ExampleProcess, ExampleProcess];
    // POST /api/withdraw on the Express server blocks this client from that route for an hour.
    const withdraw = await fetch(`${express.url}/api/withdraw`, {
      method: "POST",
      headers: { "x-api-key": rawKey },
    });
    expect(await withdraw.json()).toEqual({
      error: "Suspicious activity. Endpoint locked for 1 hour.",
    });
    for (const server of [fastify, koa]) {
      const refused = await fetch(`${server.url}/api/withdraw`, {
        method: "POST",
        headers: { "x-api-key": rawKey },
      });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe("ip_blocked");
      expect((await get(server, "/api/data", rawKey)).status).toBe(200); // only that route
    }
    // And the operator lifts it for everyone.
    expect(await admin.unblockIp("127.0.0.1")).toBe(true);
    for (const server of servers) {
      const again = await fetch(`${server.url}/api/withdraw`, {
        method: "POST",
        headers: { "x-api-key": rawKey },
      });
      // The route is reached again (and, being that route, blocks the client again).
      expect(((await again.json()) as { error?: string }).error).toMatch(/Suspicious activity/);
      await admin.unblockIp("127.0.0.1");
    }
  });
});
