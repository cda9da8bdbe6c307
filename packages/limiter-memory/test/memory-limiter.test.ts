import { describeLimiterConformance, limiterKeyRequest, seedPolicies } from "@keyguard/testkit";
import { describe, expect, it } from "vitest";
import { MemoryLimiter } from "../src/index.js";

describeLimiterConformance("memory", async () => new MemoryLimiter());

describe("MemoryLimiter memory bound", () => {
  it("keeps at most maxEntries counters however many clients arrive", async () => {
    const limiter = new MemoryLimiter({ maxEntries: 10_000, maxBlockedClients: 1_000 });
    const now = Date.UTC(2026, 0, 1);
    // Ten times the bound: enough to show eviction, cheap enough for a busy CI machine.
    for (let i = 0; i < 100_000; i++) {
      await limiter.hit(
        `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        now,
        5,
        60_000,
        "sliding-window-log",
      );
    }
    for (let i = 0; i < 5_000; i++) {
      await limiter.block(
        {
          client: `c${i}`,
          scope: "global",
          untilMs: now + 1000,
          reason: "manual",
        },
        now,
      );
    }
    expect(limiter.size).toBeLessThanOrEqual(11_000);
    // The most recent client is still counted.
    const last = "ip:10.1.134.159"; // i = 99,999
    expect((await limiter.hit(last, now, 5, 60_000, "sliding-window-log")).remaining).toBe(3);
  });
});

describe("MemoryLimiter quota seeding", () => {
  it("starts a key's monthly count from what the store recorded", async () => {
    const limiter = new MemoryLimiter();
    const monthStart = Date.UTC(2026, 0, 1);
    const now = Date.UTC(2026, 0, 15);
    await limiter.seedQuota("k", monthStart, 2);
    const request = limiterKeyRequest("k", now, seedPolicies(100, "gcra", 3));
    expect((await limiter.decide(request)).policies[1]?.remaining).toBe(0);
    expect((await limiter.decide(request)).refusal).toBe("quota_exceeded");
    await limiter.seedQuota("k", monthStart, 1); // never lowers a count
    expect((await limiter.decide(request)).refusal).toBe("quota_exceeded");
  });
});

describe("MemoryLimiter quota eviction", () => {
  it("does not count a seeded quota from zero once the LRU evicted it (more quotas in use than maxEntries)", async () => {
    const limiter = new MemoryLimiter({ maxEntries: 2 });
    const monthStart = Date.UTC(2026, 0, 1);
    const now = Date.UTC(2026, 0, 15);
    const request = (id: string) => limiterKeyRequest(id, now, seedPolicies(100, "gcra", 3));
    await limiter.seedQuota("a", monthStart, 3); // used up, as the store recorded
    expect((await limiter.decide(request("a"))).refusal).toBe("quota_exceeded");
    for (const id of ["b", "c"]) {
      await limiter.seedQuota(id, monthStart, 0);
      await limiter.decide(request(id));
    }
    // "a" was evicted: the caller (RequestGuard) believes it seeded, so counting from zero
    // would hand the month's quota out again. It is told to seed again instead.
    const answer = await limiter.decide(request("a")).then(
      (decision) => decision.refusal ?? "allowed",
      (error: Error) => error.name,
    );
    expect(answer).toBe("QuotaSeedLostError");
    await limiter.seedQuota("a", monthStart, 3);
    expect((await limiter.decide(request("a"))).refusal).toBe("quota_exceeded");
  });

  it("still counts a never-seeded quota from zero", async () => {
    const limiter = new MemoryLimiter({ maxEntries: 2 });
    const request = limiterKeyRequest("fresh", Date.UTC(2026, 0, 15), seedPolicies(100, "gcra", 3));
    expect((await limiter.decide(request)).policies[1]?.remaining).toBe(2);
  });
});

describe("MemoryLimiter idle state", () => {
  // Idle state ages by the `now` of the calls, as decisions do: no clock is read.
  const start = Date.UTC(2026, 0, 1);
  const hit = (limiter: MemoryLimiter, bucket: string, now: number) =>
    limiter.hit(bucket, now, 5, 800, "sliding-window-log");

  it("keeps a counter while it is used and forgets it one window after its last use", async () => {
    const limiter = new MemoryLimiter();
    for (let i = 0; i < 3; i++) {
      expect((await hit(limiter, "ip:10.0.0.1", start + 300 * i)).remaining).toBe(4 - i);
    }
    // Last used at +600: still kept 799 ms later, when another client arrives...
    await hit(limiter, "ip:10.0.0.2", start + 600 + 799);
    expect(limiter.size).toBe(2);
    // ...and dropped once a whole window has passed since then.
    await hit(limiter, "ip:10.0.0.3", start + 600 + 800);
    expect(limiter.size).toBe(2);
    expect((await hit(limiter, "ip:10.0.0.1", start + 600 + 800)).remaining).toBe(4);
  });

  it("forgets idle clients as new ones arrive, so a quiet limiter shrinks back", async () => {
    const limiter = new MemoryLimiter({ maxEntries: 100_000 });
    for (let i = 0; i < 1_000; i++) await hit(limiter, `ip:10.0.${i >> 8}.${i & 255}`, start);
    expect(limiter.size).toBe(1_000);
    // A window later, 600 new clients: each new one drops up to two idle ones.
    for (let i = 0; i < 600; i++) await hit(limiter, `ip:10.1.${i >> 8}.${i & 255}`, start + 801);
    expect(limiter.size).toBe(600);
  });

  it("keeps the key's windows of a key in use while a flood of other keys fills the limiter", async () => {
    const limiter = new MemoryLimiter({ maxEntries: 100 });
    const hot = limiterKeyRequest("hot", start, seedPolicies(1_000, "sliding-window-log"));
    await limiter.decide(hot);
    for (let i = 0; i < 1_000; i++) {
      await limiter.decide(limiterKeyRequest(`k${i}`, start, seedPolicies(1_000, "gcra")));
      if (i % 10 === 0) await limiter.decide(hot);
    }
    const decision = await limiter.decide(hot);
    // 1 + 100 uses + this one: its window was never evicted.
    expect(decision.policies[0]?.remaining).toBe(1_000 - 102);
  });
});
