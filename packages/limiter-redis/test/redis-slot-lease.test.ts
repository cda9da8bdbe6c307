import { setTimeout as sleep } from "node:timers/promises";
import type { LimitPolicy } from "@keyguard/core/internal";
import {
  cleanedRedisPrefixes,
  eventually,
  redisAvailable,
  startTcpProxy,
  TEST_REDIS_URL,
} from "@keyguard/testkit";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { createRedisBackend, RedisLimiter } from "../src/index.js";

const available = await redisAvailable();
const prefixFor = cleanedRedisPrefixes();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const policies: LimitPolicy[] = [
  {
    name: "minute",
    limit: 100,
    windowMs: 60_000,
    algorithm: "gcra",
    mode: "enforce",
    scope: "key",
  },
  {
    name: "concurrency",
    limit: 1,
    windowMs: 0,
    algorithm: "concurrency",
    mode: "enforce",
    scope: "key",
  },
];
const request = (now: number) => ({
  now,
  client: "203.0.113.9",
  path: "/api/data",
  key: { id: "leased", orgId: "lease-org" },
  policies,
});

describe.runIf(available)("Redis concurrency slots", () => {
  it("keeps a slot whose release failed (Redis unreachable) only until its lease ends", async () => {
    const { port } = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy(Number(port || 6379));
    cleanups.push(() => proxy.close());
    const prefix = prefixFor("lease-release");
    const backend = await createRedisBackend({
      url: `redis://127.0.0.1:${proxy.port}`,
      prefix,
      slotLeaseMs: 5_000,
      onError: () => {},
    });
    cleanups.push(() => backend.limiter.close());
    cleanups.push(() => backend.changeFeed.close?.() ?? Promise.resolve());
    const now = Date.now();
    const held = await backend.limiter.decide(request(now));
    expect(held.slot).toBeDefined();
    await proxy.cut();
    await expect(held.slot?.release()).rejects.toThrow();
    await proxy.restore();
    // Another process, straight to Redis: the slot is still taken, then its lease ends.
    const other = new RedisLimiter({
      redis: new Redis(TEST_REDIS_URL),
      prefix,
      ownsConnection: true,
    });
    cleanups.push(() => other.close());
    expect((await other.decide(request(now + 1))).refusal).toBe("concurrency_limited");
    const after = await other.decide(request(now + 5_001));
    expect(after.allowed).toBe(true);
    // Released once: calling again sends nothing and cannot free the new holder's slot.
    await held.slot?.release();
    expect((await other.decide(request(now + 5_002))).refusal).toBe("concurrency_limited");
    await after.slot?.release();
    await eventually(async () => {
      expect((await other.decide(request(now + 5_003))).allowed).toBe(true);
    }, 5_000);
  });

  it("renews a held slot while its request runs, and stops once it is given back", async () => {
    const prefix = prefixFor("lease-renew");
    const lease = 2_000;
    const holder = new RedisLimiter({
      redis: new Redis(TEST_REDIS_URL),
      prefix,
      ownsConnection: true,
      slotLeaseMs: lease,
    });
    cleanups.push(() => holder.close());
    const other = new RedisLimiter({
      redis: new Redis(TEST_REDIS_URL),
      prefix,
      ownsConnection: true,
      slotLeaseMs: lease,
    });
    cleanups.push(() => other.close());
    const started = Date.now();
    const held = await holder.decide(request(started));
    expect(held.slot).toBeDefined();
    // Past the first lease's end, and past a second one: still held, because renewed (a
    // lease never renewed would have let the other process in at `started + lease`).
    for (const after of [lease + 500, 2 * lease + 500]) {
      await sleep(started + after - Date.now());
      const refused = await other.decide(request(Date.now()));
      expect(refused.refusal, `${after} ms after the slot was taken`).toBe("concurrency_limited");
    }
    await held.slot?.release();
    const free = await other.decide(request(Date.now()));
    expect(free.allowed).toBe(true);
    await free.slot?.release();
    // Given back, it is renewed no more: nothing of it is left to revive.
    const redis = new Redis(TEST_REDIS_URL);
    cleanups.push(async () => {
      redis.disconnect();
    });
    await sleep(lease);
    expect(await redis.zcard(`${prefix}{org:lease-org}:slots:key:leased`)).toBe(0);
  });

  it("names a slot set under the request's organization hash tag, with a TTL of its lease", async () => {
    const prefix = prefixFor("lease-names");
    const redis = new Redis(TEST_REDIS_URL);
    cleanups.push(async () => {
      redis.disconnect();
    });
    const limiter = new RedisLimiter({
      redis: new Redis(TEST_REDIS_URL),
      prefix,
      ownsConnection: true,
      slotLeaseMs: 30_000,
    });
    cleanups.push(() => limiter.close());
    const decision = await limiter.decide(request(Date.now()));
    const name = `${prefix}{org:lease-org}:slots:key:leased`;
    expect(await redis.zcard(name)).toBe(1);
    const ttl = await redis.pttl(name);
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    await decision.slot?.release();
    expect(await redis.zcard(name)).toBe(0);
  });

  it("refuses a lease outside 1 s to 24 h", () => {
    for (const slotLeaseMs of [0, 999, 1.5e3 + 0.5, 86_400_001]) {
      expect(
        () =>
          new RedisLimiter({
            redis: new Redis(TEST_REDIS_URL, { lazyConnect: true }),
            slotLeaseMs,
          }),
      ).toThrow(/slotLeaseMs/);
    }
  });
});
