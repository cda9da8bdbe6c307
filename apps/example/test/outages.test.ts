import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard, keyguard } from "@keyguard/express";
import {
  dropSchema,
  eventually,
  postgresAvailable,
  redisAvailable,
  startOwnRedisServer,
  startTcpProxy,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";

const SECRET = "outage-test-secret";
/**
 * How long an effect that follows an outage or its end is awaited (a reconnection, a retried
 * flush, an outage report): `eventually` returns as soon as it is seen, so this only bounds
 * a failure, and is far above a busy machine's scheduling delays.
 */
const RECOVERY_WAIT_MS = 15_000;
/**
 * Slack over the timeouts KeyGuard is configured with (Redis commands 1 s, PostgreSQL
 * connections 5 s), for a machine busy with other work: a refusal that waited for Redis or
 * PostgreSQL to come back would instead wait until the test brings them back (never).
 */
const BUSY_MACHINE_SLACK_MS = 4_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An Express app on a real port: `/closed/*` fails closed, `/open/*` fails open. */
async function serve(kg: KeyGuard): Promise<string> {
  const app = express();
  app.use("/closed", keyguard(kg));
  app.use("/open", keyguard(kg, { failOpen: true }));
  app.get(["/closed/item/:n", "/open/item/:n"], (_req, res) => {
    res.json({ ok: true });
  });
  const server: Server = app.listen(0);
  await new Promise((resolve) => server.once("listening", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function timed(request: Promise<Response>) {
  const started = Date.now();
  const response = await request;
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, body, ms: Date.now() - started, headers: response.headers };
}

describe.runIf(await redisAvailable())("Redis goes away and comes back", () => {
  it("answers 503 fast (or passes with failOpen), never crashes, and resumes limiting", async () => {
    const redis = await startOwnRedisServer();
    cleanups.push(() => redis.stop());
    const directory = mkdtempSync(join(tmpdir(), "keyguard-redis-outage-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const errors: unknown[] = [];
    const kg = await createKeyGuard(
      {
        secretKey: SECRET,
        databaseUrl: `sqlite:${join(directory, "keyguard.db")}`,
        redisUrl: redis.url,
      },
      { env: {}, onBackgroundError: (error) => errors.push(error) },
    );
    cleanups.push(() => kg.close());
    await kg.createOrganization("Acme");
    const { rawKey } = await kg.createApiKey({ organization: "Acme", label: "k" });
    const url = await serve(kg);
    const call = (path: string, key = rawKey) =>
      timed(fetch(`${url}${path}`, { headers: { "x-api-key": key } }));

    const before = await call("/closed/item/1");
    expect(before.status).toBe(200);
    expect(before.headers.get("x-ratelimit-limit")).toBe("60");

    await redis.stop();
    const refused = await Promise.all(Array.from({ length: 20 }, () => call("/closed/item/1")));
    for (const response of refused) {
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ code: "service_unavailable", status: 503 });
      expect(response.ms).toBeLessThan(1_000 + BUSY_MACHINE_SLACK_MS);
    }
    const passed = await call("/open/item/1");
    expect(passed.status).toBe(200);
    expect(passed.headers.get("x-ratelimit-limit")).toBeNull(); // let through unlimited
    // A bad key is still a 401: refusing needs no limiter.
    const bad = await call("/closed/item/1", "kg_live_notarealkeyatall0000000000000000");
    expect(bad.status).toBe(401);
    await eventually(async () => {
      expect(errors.map(String)).toContainEqual(
        expect.stringMatching(/Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/),
      );
    }, RECOVERY_WAIT_MS);
    // The refusals are reported too, once per kind of failure, not once per request.
    expect(errors.map(String)).toContainEqual(
      expect.stringMatching(/A protected request was answered 503/),
    );
    expect(errors.length).toBeLessThan(10);

    await redis.start();
    await eventually(
      async () => expect((await call("/closed/item/1")).status).toBe(200),
      RECOVERY_WAIT_MS,
    );
    const resumed = await call("/closed/item/1");
    expect(Number(resumed.headers.get("x-ratelimit-remaining"))).toBeLessThan(60);
  });
});

describe.runIf(await redisAvailable())("Redis loses its data under a running server", () => {
  it("keeps a used-up monthly quota refused through FLUSHALL and a restart of Redis", async () => {
    const redis = await startOwnRedisServer();
    cleanups.push(() => redis.stop());
    const directory = mkdtempSync(join(tmpdir(), "keyguard-redis-loss-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const kg = await createKeyGuard(
      {
        secretKey: SECRET,
        databaseUrl: `sqlite:${join(directory, "keyguard.db")}`,
        redisUrl: redis.url,
      },
      { env: {}, onBackgroundError: () => {} },
    );
    cleanups.push(() => kg.close());
    await kg.createOrganization("Acme");
    const { rawKey } = await kg.createApiKey({
      organization: "Acme",
      label: "metered",
      monthlyLimit: 5,
    });
    const url = await serve(kg);
    const call = () => timed(fetch(`${url}/closed/item/1`, { headers: { "x-api-key": rawKey } }));
    const statuses = async (n: number) => {
      const answers: number[] = [];
      for (let i = 0; i < n; i++) answers.push((await call()).status);
      return answers;
    };

    expect(await statuses(3)).toEqual([200, 200, 200]);
    await kg.flushUsage(); // the store knows what Redis is about to forget
    // Gone without a disconnection: counted from zero, 5 more would pass.
    await redis.command("FLUSHALL");
    expect(await statuses(3)).toEqual([200, 200, 429]);
    const refused = await call();
    expect(refused.body).toMatchObject({ code: "quota_exceeded" });
    await kg.flushUsage();

    // Restarted empty: once Redis answers again (a key without a quota passes), the metered
    // key is still refused, and was never let through meanwhile.
    const other = await kg.createApiKey({ organization: "Acme", label: "unmetered" });
    await redis.stop();
    await redis.start();
    const restarted = Date.now();
    const seen: number[] = [];
    await eventually(async () => {
      seen.push((await call()).status);
      const unmetered = await fetch(`${url}/closed/item/1`, {
        headers: { "x-api-key": other.rawKey },
      });
      expect(unmetered.status).toBe(200);
    }, RECOVERY_WAIT_MS);
    const back = Date.now() - restarted;
    expect(await statuses(5)).toEqual([429, 429, 429, 429, 429]);
    console.log(
      `Redis restarted empty: requests served again after ${back} ms; the used-up quota refused throughout (${seen.length} tries: ${[...new Set(seen)].join(", ")})`,
    );
    expect(seen.filter((status) => status !== 503 && status !== 429)).toEqual([]);
    // Redis holds the month's count again, seeded from the store.
    const [quotaKey] = (await redis.command("KEYS", "*quota*")) as string[];
    expect(await redis.command("GET", String(quotaKey))).toBe("5");
  });
});

describe.runIf(await redisAvailable())("Redis loses a rotated key's quota", () => {
  it("seeds a rotation lineage's quota again from every key of it after FLUSHALL", async () => {
    const redis = await startOwnRedisServer();
    cleanups.push(() => redis.stop());
    const directory = mkdtempSync(join(tmpdir(), "keyguard-redis-lineage-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const kg = await createKeyGuard(
      {
        secretKey: SECRET,
        databaseUrl: `sqlite:${join(directory, "keyguard.db")}`,
        redisUrl: redis.url,
      },
      { env: {}, onBackgroundError: () => {} },
    );
    cleanups.push(() => kg.close());
    await kg.createOrganization("Acme");
    const original = await kg.createApiKey({
      organization: "Acme",
      label: "metered",
      monthlyLimit: 6,
    });
    const url = await serve(kg);
    const call = (rawKey: string) =>
      timed(fetch(`${url}/closed/item/1`, { headers: { "x-api-key": rawKey } }));
    const statuses = async (rawKey: string, n: number) => {
      const answers: number[] = [];
      for (let i = 0; i < n; i++) answers.push((await call(rawKey)).status);
      return answers;
    };
    expect(await statuses(original.rawKey, 3)).toEqual([200, 200, 200]);
    const rotated = await kg.rotateApiKey(original.key.id, { gracePeriodMs: 3_600_000 });
    // Both keys spend the one quota: 3 + 2 of 6.
    expect(await statuses(rotated.rawKey, 2)).toEqual([200, 200]);
    await kg.flushUsage();
    await redis.command("FLUSHALL");
    // Seeded again from both keys' usage (5), not the successor's alone (2).
    expect(await statuses(rotated.rawKey, 2)).toEqual([200, 429]);
    expect(await statuses(original.rawKey, 1)).toEqual([429]);
  });
});

describe.runIf(await postgresAvailable())("PostgreSQL goes away and comes back", () => {
  it("keeps cached keys working, refuses uncached ones with 503, and writes buffered usage later", async () => {
    const schema = uniqueSchemaName("outage");
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    cleanups.push(() => dropSchema(schema));
    const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
    cleanups.push(() => proxy.close());
    const target = new URL(TEST_POSTGRES_URL);
    target.port = String(proxy.port);
    const errors: string[] = [];
    const kg = await createKeyGuard(
      {
        secretKey: SECRET,
        databaseUrl: `${target.href}?options=-c%20search_path%3D${schema}`,
        usage: { flushIntervalMs: 100, maxBuffered: 30 },
      },
      { env: {}, onBackgroundError: (error) => errors.push(String(error)) },
    );
    cleanups.push(() => kg.close().catch(() => {}));
    await kg.createOrganization("Acme");
    const cached = await kg.createApiKey({ organization: "Acme", label: "cached" });
    const uncached = await kg.createApiKey({ organization: "Acme", label: "uncached" });
    const url = await serve(kg);
    const call = (path: string, key: string) =>
      timed(fetch(`${url}${path}`, { headers: { "x-api-key": key } }));
    expect((await call("/closed/item/0", cached.rawKey)).status).toBe(200);
    await kg.flushUsage();

    await proxy.cut();
    // 40 requests on distinct paths: 40 usage rows, 10 more than the buffer holds.
    for (let i = 1; i <= 40; i++) {
      expect((await call(`/closed/item/${i}`, cached.rawKey)).status).toBe(200);
    }
    const refused = await call("/closed/item/1", uncached.rawKey);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({
      code: "service_unavailable",
      detail: "API keys cannot be verified right now. Retry shortly.",
    });
    expect(refused.ms).toBeLessThan(5_000 + BUSY_MACHINE_SLACK_MS);
    await eventually(async () => expect(kg.usageStats.dropped).toBe(10), RECOVERY_WAIT_MS);
    expect(errors.some((error) => /Usage buffer full \(30 rows/.test(error))).toBe(true);

    await proxy.restore();
    await eventually(async () => expect(kg.usageStats.buffered).toBe(0), RECOVERY_WAIT_MS);
    expect((await call("/closed/item/1", uncached.rawKey)).status).toBe(200);
    await kg.flushUsage();
    const rows = await withPostgresClient(
      (client) =>
        client.query<{ total: string }>(
          "select coalesce(sum(request_count), 0) as total from usage_logs where key_id = $1",
          [cached.key.id],
        ),
      schema,
    );
    // The one before the outage, and the 30 of the 40 the buffer held.
    expect(Number(rows.rows[0]?.total)).toBe(31);
  });
});
