import { describe, expect, it } from "vitest";
import {
  ALGORITHMS,
  type CreateLimiter,
  DAY,
  keyRequest,
  limiterFactory,
  MINUTE,
  SECOND,
  seedPolicies,
  T0,
  window,
} from "./support.js";

/** One window per key, each algorithm: bursts, batches, changed limits, long windows. */
export function describeWindowRules(createLimiter: CreateLimiter): void {
  const create = limiterFactory(createLimiter);

  describe.each(ALGORITHMS)("a key's window with %s", (algorithm) => {
    // 7 a minute: the spacing (8571.4 ms) is not a whole number of milliseconds.
    const minute = seedPolicies(7, algorithm);

    it("allows exactly the limit in a burst, then refuses until the window moves", async () => {
      const limiter = await create();
      const decisions = [];
      for (let i = 0; i < 10; i++)
        decisions.push(await limiter.decide(keyRequest("k1", T0, minute)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(7);
      expect(decisions[0]).toMatchObject({ allowed: true, limit: 7, remaining: 6 });
      const refused = decisions[9];
      expect(refused).toMatchObject({
        allowed: false,
        refusal: "rate_limited",
        limit: 7,
        remaining: 0,
        violated: [0],
      });
      expect(refused?.retryAfterMs).toBeGreaterThan(0);
      expect(refused?.retryAfterMs).toBeLessThanOrEqual(MINUTE);
      // Another key is counted on its own.
      expect((await limiter.decide(keyRequest("k2", T0, minute))).allowed).toBe(true);
      // Two windows later everything is available again.
      expect(await limiter.decide(keyRequest("k1", T0 + 2 * MINUTE, minute))).toMatchObject({
        allowed: true,
        remaining: 6,
      });
    });

    it("decides requests arriving together as if they came one after another", async () => {
      const limiter = await create();
      const sequential = await create();
      const together = await Promise.all(
        Array.from({ length: 10 }, () => limiter.decide(keyRequest("b1", T0, minute))),
      );
      const oneByOne = [];
      for (let i = 0; i < 10; i++)
        oneByOne.push(await sequential.decide(keyRequest("b2", T0, minute)));
      const summary = (decisions: typeof together) =>
        decisions.map((d) => [d.allowed, d.refusal, d.remaining, d.resetAtMs, d.retryAfterMs]);
      expect(summary(together)).toEqual(summary(oneByOne));
      expect(together.map((d) => d.remaining)).toEqual([6, 5, 4, 3, 2, 1, 0, 0, 0, 0]);
      // And the state they leave is the same: the next request is refused alike.
      expect(summary([await limiter.decide(keyRequest("b1", T0 + 1, minute))])).toEqual(
        summary([await sequential.decide(keyRequest("b2", T0 + 1, minute))]),
      );
    });

    it("counts a window of one second and one of 31 days", async () => {
      const limiter = await create();
      const policies = [
        window("burst", 2, SECOND, algorithm),
        window("long", 3, 31 * DAY, algorithm),
      ];
      const at = (now: number) => limiter.decide(keyRequest("long", now, policies));
      expect((await at(T0)).allowed).toBe(true);
      expect((await at(T0)).allowed).toBe(true);
      expect(await at(T0)).toMatchObject({ allowed: false, violated: [0] });
      // Two seconds on: the burst is free again (also for the counter's fixed windows).
      expect((await at(T0 + 2 * SECOND)).allowed).toBe(true);
      const refused = await at(T0 + 4 * SECOND);
      expect(refused).toMatchObject({ allowed: false, violated: [1] });
      expect(refused.retryAfterMs).toBeGreaterThan(SECOND);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(31 * DAY);
      expect((await at(T0 + 62 * DAY)).allowed).toBe(true);
    });
  });

  it("applies a raised limit at once, even to a key it has just refused", async () => {
    const limiter = await create();
    const two = seedPolicies(2, "sliding-window-log");
    for (let i = 0; i < 2; i++) await limiter.decide(keyRequest("raise", T0, two));
    expect((await limiter.decide(keyRequest("raise", T0, two))).refusal).toBe("rate_limited");
    expect(
      await limiter.decide(keyRequest("raise", T0, seedPolicies(5, "sliding-window-log"))),
    ).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("counts up to ten windows of one key, each on its own", async () => {
    const limiter = await create();
    const policies = Array.from({ length: 10 }, (_, i) =>
      window(`w${i}`, 10 + i, (i + 1) * MINUTE, ALGORITHMS[i % 3]),
    );
    for (let i = 0; i < 10; i++) await limiter.decide(keyRequest("ten", T0 + i, policies));
    const decision = await limiter.decide(keyRequest("ten", T0 + 10, policies));
    expect(decision.allowed).toBe(false);
    expect(decision.violated).toEqual([0]);
    expect(decision.policies.map((p) => p.remaining)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
}
