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
import { answer, keyChangeLatencies, percentiles, until } from "./propagation-latency.js";

const available = (await postgresAvailable()) && (await redisAvailable());

/**
 * What another process's view of a change made elsewhere is held to: a revocation, block or
 * unblock is stored, then announced (Redis pub/sub); every other process refuses (or lets
 * through) within this many ms at the 99th percentile, measured over SAMPLES changes (over
 * fewer than 101 the p99 is simply the slowest one). All are held to the 100 ms asked of
 * them (measured p99: revocations 6-40 ms, blocks and unblocks 30-55 ms with the machine's
 * load at 6-8 on two cores; a block once took 126 ms with the load at 20, which the p99 over
 * 200 samples absorbs).
 */
const BOUND_MS = 100;
const BLOCK_BOUND_MS = BOUND_MS;
const SAMPLES = 200;
/** Updates, rotations and suspensions: each its own kind of notice, measured apart. */
const CHANGE_SAMPLES = 40;

const WITHDRAW_REFUSAL = { error: "Suspicious activity. Endpoint locked for 1 hour." };

/**
 * keyguard-python's production setup: three servers (one per framework) behind an imaginary load
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

  it("shows the same live remaining per policy from every server's admin API", async () => {
    const { rawKey, key } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "live-remaining",
      rateLimitPerMinute: 10,
      monthlyLimit: 100,
      limits: [{ name: "hour", limit: 20, windowSeconds: 3600 }],
    });
    for (let i = 0; i < 7; i++) {
      const response = await get(servers[i % 3] as ExampleProcess, "/api/data", rawKey);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    const expected = { minute: 3, hour: 13, month: 93 };
    for (const server of servers) {
      const shown = await fetch(`${server.url}/admin/keys/${key.id}`, {
        headers: { "x-admin-key": EXAMPLE_SECRET },
      });
      expect(shown.status).toBe(200);
      const body = (await shown.json()) as {
        policies: { name: string; remaining: number | null }[];
      };
      expect(
        Object.fromEntries(body.policies.map((policy) => [policy.name, policy.remaining])),
      ).toEqual(expected);
    }
    // A process that served none of them (the operator's tooling) reads the same counters.
    const status = await admin.limitStatus(key);
    expect(
      Object.fromEntries(status.policies.map((policy) => [policy.name, policy.remaining])),
    ).toEqual(expected);
  });

  it(`refuses a revoked key in every other process within ${BOUND_MS} ms (p99 over ${SAMPLES} revocations)`, async () => {
    const keys = [];
    for (let i = 0; i < SAMPLES; i++) {
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
      latencies.push(
        await until(
          `revocation ${i}`,
          async () =>
            (await answer(get(watcher, "/api/data", rawKey), ["200", "revoked_api_key"])) !== "200",
        ),
      );
    }
    expect(percentiles("revoke -> refusal elsewhere", latencies).p99).toBeLessThan(BOUND_MS);
  });

  // Blocks live in Redis, where every process's limiter reads them, so a new block is
  // normally refused from the first try; but each process also keeps blocks it has seen in
  // memory (manual blocks, the limiter's cache of blocks), and only the `ip-blocks` notice
  // removes them there: an unblock is asynchronous, like a revocation, with the same bound.
  it(`applies and lifts a block in every other process within ${BLOCK_BOUND_MS} ms (p99 over ${SAMPLES} blocks and unblocks)`, async () => {
    const { rawKey } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "block-latency",
      rateLimitPerMinute: 100_000,
    });
    for (const server of servers) expect((await get(server, "/api/data", rawKey)).status).toBe(200);
    const applied: number[] = [];
    const lifted: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const watcher = servers[i % 3] as ExampleProcess;
      await admin.blockIp("127.0.0.1", { duration: "1 hour", reason: `sample ${i}` });
      applied.push(
        await until(
          `block ${i}`,
          async () =>
            (await answer(get(watcher, "/api/data", rawKey), ["200", "ip_blocked"])) !== "200",
        ),
      );
      // The watcher has now seen (and keeps) the block: only the unblock's notice lifts it.
      expect(await admin.unblockIp("127.0.0.1")).toBe(true);
      lifted.push(
        await until(
          `unblock ${i}`,
          async () =>
            (await answer(get(watcher, "/api/data", rawKey), ["200", "ip_blocked"])) === "200",
        ),
      );
    }
    const blocks = percentiles("block -> refusal elsewhere", applied);
    const unblocks = percentiles("unblock -> allowed elsewhere", lifted);
    expect(blocks.p99, "p99 from a block to its refusal elsewhere (ms)").toBeLessThan(
      BLOCK_BOUND_MS,
    );
    expect(unblocks.p99, "p99 from an unblock to its lifting elsewhere (ms)").toBeLessThan(
      BLOCK_BOUND_MS,
    );
  });

  it(`applies an update, a rotation and a suspension in every other process within ${BOUND_MS} ms (p99 over ${3 * CHANGE_SAMPLES} changes)`, async () => {
    const latencies = await keyChangeLatencies(admin, servers, CHANGE_SAMPLES, (server, rawKey) =>
      get(server, "/api/data", rawKey),
    );
    for (const [change, measured] of Object.entries(latencies)) {
      percentiles(`${change} -> seen elsewhere (Redis)`, measured);
    }
    // Pooled, so the p99 of the 3 * CHANGE_SAMPLES changes is not simply the slowest one.
    const all = Object.values(latencies).flat();
    expect(percentiles("any key change -> seen elsewhere (Redis)", all).p99).toBeLessThan(BOUND_MS);
  });

  it("applies a route lockout made by one process in the others, and lifts it everywhere", async () => {
    const { rawKey } = await admin.createApiKey({ organization: "Acme Corp", label: "blocks" });
    const [express, fastify, koa] = servers as [ExampleProcess, ExampleProcess, ExampleProcess];
    const withdraw = (server: ExampleProcess, headers: Record<string, string> = {}) =>
      fetch(`${server.url}/api/withdraw`, { method: "POST", headers });
    // Without a key the route's handler is never reached (401), so probing with one cannot
    // lock the client out by itself: only a block made elsewhere turns it into a 403.
    const lockedOut = async (server: ExampleProcess) =>
      (await answer(withdraw(server), ["missing_api_key", "ip_blocked"])) === "ip_blocked";
    // POST /api/withdraw on the Express server locks this client out of that route for an hour.
    expect(await (await withdraw(express, { "x-api-key": rawKey })).json()).toEqual(
      WITHDRAW_REFUSAL,
    );
    for (const server of [fastify, koa]) {
      await until("lockout elsewhere", () => lockedOut(server));
      await answer(withdraw(server, { "x-api-key": rawKey }), ["ip_blocked"]);
      expect((await get(server, "/api/data", rawKey)).status).toBe(200); // only that route
    }
    // The operator lifts it for everyone: each server serves the route again (and, being
    // that route, locks the client out again, so it is lifted once more for the next one).
    for (const server of servers) {
      expect(await admin.unblockIp("127.0.0.1")).toBe(true);
      await until("unblock elsewhere", async () => !(await lockedOut(server)));
      const again = await withdraw(server, { "x-api-key": rawKey });
      expect(await again.json()).toEqual(WITHDRAW_REFUSAL);
    }
    expect(await admin.unblockIp("127.0.0.1")).toBe(true);
  });
});
