import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { creditsPolicy } from "@keyguard/core/internal";
import {
  cleanedRedisPrefixes,
  limiterKeyRequest,
  orgPolicyWindow,
  policyStateOf,
  policyWindow,
  redisAvailable,
  TEST_REDIS_URL,
} from "@keyguard/testkit";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisLimiter } from "../src/index.js";

const run = promisify(execFile);
const available = await redisAvailable();
const prefixFor = cleanedRedisPrefixes();
const WORKER = fileURLToPath(new URL("./fixtures/decide-worker.mjs", import.meta.url));

/**
 * Three processes (each its own RedisLimiter and connection, as three servers would have)
 * spend two keys of one organization at once: two windows per key and one of the
 * organization. The counts are exact, and a refused request charged nothing.
 */
describe.runIf(available)("RedisLimiter exactness across three processes", () => {
  it("allows exactly what every policy allows together, and charges refusals nothing", async () => {
    const prefix = prefixFor("exact");
    const policies = [
      policyWindow("burst", 25, 10_000, "sliding-window-log"),
      policyWindow("hour", 30, 3_600_000, "gcra"),
      orgPolicyWindow("minute", 45, 60_000, "sliding-window-counter"),
    ];
    const now = Date.now();
    const env = {
      ...process.env,
      REDIS_URL: TEST_REDIS_URL,
      PREFIX: prefix,
      NOW: String(now),
      START_AT: String(Date.now() + 1_500),
      REQUESTS: "40",
      POLICIES: JSON.stringify(policies),
    };
    const outputs = await Promise.all(
      [0, 1, 2].map(() => run(process.execPath, [WORKER], { env, timeout: 60_000 })),
    );
    const counts = outputs.map(({ stdout }) => JSON.parse(stdout) as { a: number; b: number });
    const a = counts.reduce((sum, count) => sum + count.a, 0);
    const b = counts.reduce((sum, count) => sum + count.b, 0);
    // 120 requests per key: each key's burst takes 25, but the organization only 45.
    expect(a + b).toBe(45);
    expect(a).toBeLessThanOrEqual(25);
    expect(b).toBeLessThanOrEqual(25);
    // What is left is exactly what the allowed ones spent: the 195 refusals took nothing.
    const limiter = new RedisLimiter({
      redis: new Redis(TEST_REDIS_URL),
      prefix,
      ownsConnection: true,
    });
    for (const [id, spent] of [
      ["a", a],
      ["b", b],
    ] as const) {
      const look = await limiter.decide(
        limiterKeyRequest(id, now, policies, { orgId: "acme", cost: 0 }),
      );
      expect(look.allowed).toBe(false);
      expect(policyStateOf(look, policies, "burst")?.remaining).toBe(25 - spent);
      expect(policyStateOf(look, policies, "hour")?.remaining).toBe(30 - spent);
      expect(policyStateOf(look, policies, "org.minute")?.remaining).toBe(0);
    }
    await limiter.close();
  }, 90_000);

  it("spends each key's credits exactly, however many processes spend them at once", async () => {
    const prefix = prefixFor("exact-credits");
    const now = Date.now();
    const policies = [
      policyWindow("burst", 1000, 10_000, "sliding-window-log"),
      creditsPolicy({ granted: 37, epoch: new Date(now - 1000), refill: null }),
    ];
    const env = {
      ...process.env,
      REDIS_URL: TEST_REDIS_URL,
      PREFIX: prefix,
      NOW: String(now),
      START_AT: String(Date.now() + 1_500),
      REQUESTS: "40",
      POLICIES: JSON.stringify(policies),
    };
    const outputs = await Promise.all(
      [0, 1, 2].map(() => run(process.execPath, [WORKER], { env, timeout: 60_000 })),
    );
    const counts = outputs.map(({ stdout }) => JSON.parse(stdout) as { a: number; b: number });
    // 120 requests per key, 37 credits each: exactly 37 allowed, wherever they were decided.
    expect(counts.reduce((sum, count) => sum + count.a, 0)).toBe(37);
    expect(counts.reduce((sum, count) => sum + count.b, 0)).toBe(37);
    const limiter = new RedisLimiter({
      redis: new Redis(TEST_REDIS_URL),
      prefix,
      ownsConnection: true,
    });
    const look = await limiter.decide(
      limiterKeyRequest("a", now, policies, { orgId: "acme", cost: 0 }),
    );
    expect(look.refusal).toBe("credits_exhausted");
    // The 83 refusals took nothing from the burst window.
    expect(policyStateOf(look, policies, "burst")?.remaining).toBe(1000 - 37);
    await limiter.close();
  }, 90_000);
});
