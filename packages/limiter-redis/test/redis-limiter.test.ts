import type { LimitPolicy } from "@keyguard/core/internal";
import {
  cleanedRedisPrefixes,
  describeLimiterConformance,
  orgPolicyWindow,
  recordRedisCommands,
  redisAvailable,
  redisCommandCounts,
  seedPolicies,
  startOwnRedisServer,
  TEST_REDIS_URL,
} from "@keyguard/testkit";
import calculateSlot from "cluster-key-slot";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { DEFAULT_SLOT_LEASE_MS, RedisLimiter } from "../src/index.js";

const available = await redisAvailable();
const prefixFor = cleanedRedisPrefixes();

function limiterOn(url = TEST_REDIS_URL, prefix = prefixFor("limiter")): RedisLimiter {
  return new RedisLimiter({ redis: new Redis(url), prefix, ownsConnection: true });
}

const MINUTE = 60_000;
const keyRequest = (now: number, id = "k", rate = 5, monthly: number | null = null) => ({
  now,
  client: "203.0.113.9",
  path: "/api/data",
  key: { id },
  policies: seedPolicies(rate, "sliding-window-log", monthly),
});

describe.runIf(available)("RedisLimiter", () => {
  describeLimiterConformance("redis", async () => limiterOn(), {
    slotLeaseMs: DEFAULT_SLOT_LEASE_MS,
  });

  it("allows exactly the limit when several connections decide concurrently", async () => {
    const prefix = prefixFor("race");
    const limiters = [
      limiterOn(TEST_REDIS_URL, prefix),
      limiterOn(TEST_REDIS_URL, prefix),
      limiterOn(TEST_REDIS_URL, prefix),
    ];
    const now = Date.now();
    const decisions = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        (limiters[i % 3] as RedisLimiter).decide(keyRequest(now + (i % 7), "shared", 50, 120)),
      ),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(50);
    expect(decisions.filter((d) => d.refusal === "rate_limited")).toHaveLength(250);
    const quotas = decisions.flatMap((d) => (d.allowed ? [d.policies[1]?.remaining ?? -1] : []));
    expect(new Set(quotas).size).toBe(50); // each allowed request counted once: 119 .. 70
    expect(Math.min(...quotas)).toBe(70);
    for (const limiter of limiters) await limiter.close();
  });

  it("gives every key it writes a TTL, and keeps a key's counters in one cluster slot", async () => {
    const prefix = prefixFor("ttl");
    const limiter = limiterOn(TEST_REDIS_URL, prefix);
    const now = Date.now();
    await limiter.decide(keyRequest(now, "ttl-key", 5, 100));
    await limiter.hit("auth-failures:203.0.113.9", now, 3, MINUTE, "gcra");
    await limiter.block(
      { client: "198.51.100.4", scope: "global", untilMs: now + 30_000, reason: "manual" },
      now,
    );
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    expect(keys).toHaveLength(4);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(32 * 24 * 3_600_000);
    }
    const names = limiter.names;
    const month = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    // A key's windows, its quota and its organization's windows (which every key of the
    // organization spends): one slot, so one script call decides them on a Cluster.
    const subject = { id: "ttl-key", quotaId: "ttl-root", orgId: "acme" };
    const policies = [...seedPolicies(5, "gcra", 100), orgPolicyWindow("day", 10, 86_400_000)];
    const slots = new Set(
      [
        ...policies.map((policy) => names.policy(subject, policy, month)),
        names.policy({ id: "other-key", orgId: "acme" }, policies[0] as LimitPolicy, month),
        names.quota(subject, month),
      ].map((name) => calculateSlot(name)),
    );
    expect(slots.size).toBe(1);
    redis.disconnect();
    await limiter.close();
  });

  it("keeps working after SCRIPT FLUSH (scripts are loaded again by themselves)", async () => {
    // On a server of its own: flushing the shared server's scripts would reach into every
    // other test (and test run) using it at the same time.
    const server = await startOwnRedisServer();
    const limiter = limiterOn(server.url);
    const now = Date.now();
    expect((await limiter.decide(keyRequest(now, "flush"))).remaining).toBe(4);
    const redis = new Redis(server.url);
    await redis.script("FLUSH");
    redis.disconnect();
    expect((await limiter.decide(keyRequest(now, "flush"))).remaining).toBe(3);
    expect((await limiter.hit("b", now, 2, MINUTE, "sliding-window-counter")).remaining).toBe(1);
    await limiter.close();
    await server.stop();
  });
});

describe.runIf(available)(
  "RedisLimiter round trips (counted by MONITOR on a server of its own)",
  () => {
    it("costs at most one command per allowed request, none for a blocked client or a refused key", async () => {
      const server = await startOwnRedisServer();
      const limiter = limiterOn(server.url);
      const now = Date.now();
      await limiter.decide(keyRequest(now, "warm-up")); // loads the script once

      const allowed = await recordRedisCommands(server.url, async () => {
        for (let i = 0; i < 20; i++) {
          expect((await limiter.decide(keyRequest(now + i, `k${i % 4}`, 100, 1000))).allowed).toBe(
            true,
          );
        }
      });
      expect(allowed).toEqual(Array(20).fill("evalsha"));

      // Requests arriving together share one call per key (and client and path).
      const together = await recordRedisCommands(server.url, async () => {
        const decisions = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            limiter.decide(keyRequest(now + 20, `t${i % 3}`, 100, 1000)),
          ),
        );
        expect(decisions.every((d) => d.allowed)).toBe(true);
        expect(new Set(decisions.map((d) => d.policies[1]?.remaining)).size).toBe(10); // 999 .. 990
      });
      expect(together).toEqual(["evalsha", "evalsha", "evalsha"]);

      // A key over its limit: the first refusal asks Redis, the next ones do not.
      for (let i = 0; i < 2; i++) await limiter.decide(keyRequest(now, "tight", 2));
      const refused = await recordRedisCommands(server.url, async () => {
        for (let i = 0; i < 50; i++) {
          expect((await limiter.decide(keyRequest(now + 10, "tight", 2))).refusal).toBe(
            "rate_limited",
          );
        }
      });
      expect(refused).toEqual(["evalsha"]);

      // A blocked client: nothing once the block is known.
      await limiter.block(
        { client: "203.0.113.9", scope: "global", untilMs: now + 60_000, reason: "manual" },
        now,
      );
      const blocked = await recordRedisCommands(server.url, async () => {
        for (let i = 0; i < 50; i++) {
          expect((await limiter.decide(keyRequest(now, `k${i}`))).refusal).toBe("ip_blocked");
        }
      });
      expect(blocked).toEqual([]);

      // INFO commandstats agrees: one EVALSHA per call (20 + 3 + 2 + 1).
      // Each script's first EVALSHA (warm-up, block) failed with NOSCRIPT, not counted as a
      // call, and was followed by one EVAL that loaded it.
      const stats = new Redis(server.url);
      const counts = await redisCommandCounts(stats);
      expect(counts.get("evalsha")).toBe(20 + 3 + 2 + 1);
      expect(counts.get("eval")).toBe(2);
      stats.disconnect();
      await limiter.close();
      await server.stop();
    });
  },
);
