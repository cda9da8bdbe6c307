import {
  describeLimiterConformance,
  type OwnRedisCluster,
  redisAvailable,
  startOwnRedisCluster,
  uniqueRedisPrefix,
} from "@keyguard/testkit";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLimiter } from "../src/index.js";

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

  describeLimiterConformance("redis cluster", async () => onCluster());

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
          algorithm: "sliding-window-log",
          key: { id: "shared", rateLimitPerMinute: 40, monthlyLimit: 100 },
        }),
      ),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(40);
    for (const limiter of limiters) await limiter.close();
  });
});
