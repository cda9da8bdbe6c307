import {
  describeLimiterConformance,
  type OwnRedisCluster,
  redisAvailable,
  redisCommandCounts,
  seedPolicies,
  startOwnRedisCluster,
  uniqueRedisPrefix,
} from "@keyguard/testkit";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SLOT_LEASE_MS, RedisLimiter } from "../src/index.js";

/**
 * The same limiter on a real three-master Redis Cluster started for this file: hash tags
 * keep each script's keys in one slot, blocks are checked in their own slot, and listings
 * scan every master.
 */
describe.runIf(await redisAvailable())("RedisLimiter on Redis Cluster", () => {
  let cluster: OwnRedisCluster;
  beforeAll(async () => {
    cluster = await startOwnRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  const onCluster = (prefix = uniqueRedisPrefix("cluster")) =>
    new RedisLimiter({
      redis: new Cluster([...cluster.nodes]),
      prefix,
      ownsConnection: true,
    });

  describeLimiterConformance("redis cluster", async () => onCluster(), {
    slotLeaseMs: DEFAULT_SLOT_LEASE_MS,
  });

  it("allows exactly the limit across several cluster connections deciding at once", async () => {
    const prefix = uniqueRedisPrefix("cluster-race");
    const limiters = [onCluster(prefix), onCluster(prefix), onCluster(prefix)];
    const now = Date.now();
    const decisions = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        (limiters[i % 3] as RedisLimiter).decide({
          now,
          client: `198.51.100.${i % 50}`,
          path: "/api/data",
          key: { id: "shared" },
          policies: seedPolicies(40, "sliding-window-log", 100),
        }),
      ),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(40);
    for (const limiter of limiters) await limiter.close();
  });

  it("checks a busy client's blocks once for the requests arriving together", async () => {
    const limiter = onCluster();
    const request = (now: number) => ({
      now,
      client: "198.51.100.7",
      path: "/api/data",
      key: { id: "busy" },
      policies: seedPolicies(1000, "gcra", null),
    });
    await limiter.decide(request(Date.now())); // connections and scripts in place
    const before = await clusterCommandCounts();
    const decisions = await Promise.all(
      Array.from({ length: 30 }, () => limiter.decide(request(Date.now()))),
    );
    const after = await clusterCommandCounts();
    expect(decisions.every((d) => d.allowed)).toBe(true);
    const delta = (command: string) => (after.get(command) ?? 0) - (before.get(command) ?? 0);
    expect(delta("hmget")).toBe(1);
    expect(delta("evalsha") + delta("eval")).toBe(1);
    await limiter.close();
  });

  /** Calls per command summed over the masters (INFO commandstats). */
  async function clusterCommandCounts(): Promise<Map<string, number>> {
    const sum = new Map<string, number>();
    for (const node of cluster.nodes) {
      const redis = new Redis(node.port, node.host);
      try {
        for (const [command, calls] of await redisCommandCounts(redis)) {
          sum.set(command, (sum.get(command) ?? 0) + calls);
        }
      } finally {
        redis.disconnect();
      }
    }
    return sum;
  }
});
