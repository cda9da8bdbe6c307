import type { CreditRefill } from "@keyguard/core";
import { creditsPolicy, type LimitPolicy } from "@keyguard/core/internal";
import { describe, expect, it } from "vitest";
import {
  type CreateLimiter,
  DAY,
  keyRequest,
  limiterFactory,
  MINUTE,
  MONTH_END,
  stateOf,
  T0,
  violatedNames,
  window,
} from "./support.js";

/** A key's prepaid credits: `granted` from `epochMs` on, refilled if `refill` is given. */
export function credits(
  granted: number,
  epochMs: number = T0,
  refill: CreditRefill | null = null,
): LimitPolicy {
  return creditsPolicy({ granted, epoch: new Date(epochMs), refill });
}

/** The policy `credits` (prepaid credits, spent per rotation lineage, refilled or not). */
export function describeCreditRules(createLimiter: CreateLimiter): void {
  const create = limiterFactory(createLimiter);
  let keys = 0;
  /** A key id no other test (of any backend sharing a Redis) uses. */
  const fresh = () => `credits-${process.pid}-${Date.now()}-${keys++}`;

  describe("credits", () => {
    it("allows requests until the balance is spent, then refuses with credits_exhausted and no retry time", async () => {
      const limiter = await create();
      const id = fresh();
      const policies = [window("minute", 100, MINUTE), credits(3)];
      const remaining: (number | undefined)[] = [];
      for (let i = 0; i < 3; i++) {
        const decision = await limiter.decide(keyRequest(id, T0 + i, policies));
        expect(decision.allowed).toBe(true);
        remaining.push(stateOf(decision, policies, "credits")?.remaining);
      }
      expect(remaining).toEqual([2, 1, 0]);
      const refused = await limiter.decide(keyRequest(id, T0 + 10, policies));
      expect(refused).toMatchObject({ allowed: false, refusal: "credits_exhausted" });
      expect(violatedNames(refused, policies)).toEqual(["credits"]);
      // Without a refill, waiting does not help: no retry time.
      expect(refused.retryAfterMs).toBe(0);
      expect(stateOf(refused, policies, "credits")).toMatchObject({ allowed: false, remaining: 0 });
      // Days later it is still spent.
      expect((await limiter.decide(keyRequest(id, T0 + 40 * DAY, policies))).refusal).toBe(
        "credits_exhausted",
      );
    });

    it("spends a request's cost, refusing one that costs more than is left", async () => {
      const limiter = await create();
      const id = fresh();
      const policies = [window("minute", 100, MINUTE), credits(10)];
      const spend = (cost: number, at: number) =>
        limiter.decide(keyRequest(id, T0 + at, policies, { cost }));
      expect(stateOf(await spend(4, 1), policies, "credits")?.remaining).toBe(6);
      expect(stateOf(await spend(4, 2), policies, "credits")?.remaining).toBe(2);
      const tooDear = await spend(4, 3);
      expect(tooDear).toMatchObject({ allowed: false, refusal: "credits_exhausted" });
      expect(stateOf(tooDear, policies, "credits")?.remaining).toBe(2);
      // Cost 0 only looks.
      const look = await spend(0, 4);
      expect(look.allowed).toBe(true);
      expect(stateOf(look, policies, "credits")?.remaining).toBe(2);
      expect(stateOf(await spend(2, 5), policies, "credits")?.remaining).toBe(0);
    });

    it("spends no credits on a request another policy refuses", async () => {
      const limiter = await create();
      const id = fresh();
      const policies = [window("minute", 2, MINUTE), credits(10)];
      for (let i = 0; i < 2; i++) await limiter.decide(keyRequest(id, T0 + i, policies));
      for (let i = 0; i < 3; i++) {
        const refused = await limiter.decide(keyRequest(id, T0 + 10 + i, policies));
        expect(refused.refusal).toBe("rate_limited");
        expect(violatedNames(refused, policies)).toEqual(["minute"]);
        expect(stateOf(refused, policies, "credits")?.remaining).toBe(8);
      }
      const next = await limiter.decide(keyRequest(id, T0 + 2 * MINUTE, policies));
      expect(stateOf(next, policies, "credits")?.remaining).toBe(7);
    });

    it("charges no other policy for a request the credits refuse", async () => {
      const limiter = await create();
      const id = fresh();
      const poor = [window("minute", 5, MINUTE), credits(1)];
      expect((await limiter.decide(keyRequest(id, T0, poor))).allowed).toBe(true);
      for (let i = 1; i <= 3; i++) {
        const refused = await limiter.decide(keyRequest(id, T0 + i, poor));
        expect(refused.refusal).toBe("credits_exhausted");
        expect(stateOf(refused, poor, "minute")?.remaining).toBe(4);
      }
      // Topped up (same epoch, a bigger grant): the minute still has its 4.
      const topped = [window("minute", 5, MINUTE), credits(100)];
      const minuteLeft: (number | undefined)[] = [];
      for (let i = 0; i < 4; i++) {
        const decision = await limiter.decide(keyRequest(id, T0 + 10 + i, topped));
        expect(decision.allowed).toBe(true);
        minuteLeft.push(stateOf(decision, topped, "minute")?.remaining);
      }
      expect(minuteLeft).toEqual([3, 2, 1, 0]);
      expect((await limiter.decide(keyRequest(id, T0 + 20, topped))).refusal).toBe("rate_limited");
    });

    it("a top-up (a bigger grant for the same epoch) raises the limit and keeps what was spent", async () => {
      const limiter = await create();
      const id = fresh();
      const before = [window("minute", 100, MINUTE), credits(2)];
      await limiter.decide(keyRequest(id, T0, before));
      await limiter.decide(keyRequest(id, T0 + 1, before));
      expect((await limiter.decide(keyRequest(id, T0 + 2, before))).refusal).toBe(
        "credits_exhausted",
      );
      const after = [window("minute", 100, MINUTE), credits(5)];
      const decision = await limiter.decide(keyRequest(id, T0 + 3, after));
      expect(decision.allowed).toBe(true);
      expect(stateOf(decision, after, "credits")).toMatchObject({ limit: 5, remaining: 2 });
    });

    it("a new epoch (credits set again) starts a fresh balance", async () => {
      const limiter = await create();
      const id = fresh();
      const first = [credits(1, T0)];
      await limiter.decide(keyRequest(id, T0, first));
      expect((await limiter.decide(keyRequest(id, T0 + 1, first))).allowed).toBe(false);
      const reset = [credits(3, T0 + 5)];
      const decision = await limiter.decide(keyRequest(id, T0 + 6, reset));
      expect(stateOf(decision, reset, "credits")?.remaining).toBe(2);
    });

    it("refills daily at UTC midnight to the refill amount", async () => {
      const limiter = await create();
      const id = fresh();
      const policies = [credits(5, T0, { amount: 2, interval: "daily" })];
      const midnight = Date.UTC(2026, 0, 16);
      for (let i = 0; i < 5; i++) await limiter.decide(keyRequest(id, T0 + i, policies));
      const refused = await limiter.decide(keyRequest(id, T0 + 10, policies));
      expect(refused.refusal).toBe("credits_exhausted");
      expect(refused.retryAfterMs).toBe(midnight - (T0 + 10));
      expect(refused.resetAtMs).toBe(midnight);
      // One millisecond before midnight, still spent; at midnight, 2 again (not 5).
      expect((await limiter.decide(keyRequest(id, midnight - 1, policies))).allowed).toBe(false);
      const refilled = await limiter.decide(keyRequest(id, midnight, policies));
      expect(stateOf(refilled, policies, "credits")).toMatchObject({ limit: 2, remaining: 1 });
      await limiter.decide(keyRequest(id, midnight + 1, policies));
      expect((await limiter.decide(keyRequest(id, midnight + 2, policies))).allowed).toBe(false);
      // Unspent credits do not carry over: two days later the balance is 2 again.
      const later = await limiter.decide(keyRequest(id, midnight + 2 * DAY + 5, policies));
      expect(stateOf(later, policies, "credits")).toMatchObject({ limit: 2, remaining: 1 });
    });

    it("refills monthly on the 1st (UTC)", async () => {
      const limiter = await create();
      const id = fresh();
      const policies = [credits(3, T0, { amount: 10, interval: "monthly" })];
      for (let i = 0; i < 3; i++) await limiter.decide(keyRequest(id, T0 + i, policies));
      const refused = await limiter.decide(keyRequest(id, T0 + 5, policies));
      expect(refused).toMatchObject({ refusal: "credits_exhausted", resetAtMs: MONTH_END });
      expect(refused.retryAfterMs).toBe(MONTH_END - (T0 + 5));
      const refilled = await limiter.decide(keyRequest(id, MONTH_END, policies));
      expect(stateOf(refilled, policies, "credits")).toMatchObject({ limit: 10, remaining: 9 });
      expect(stateOf(refilled, policies, "credits")?.resetAtMs).toBe(Date.UTC(2026, 2, 1));
    });

    it("is spent by the whole rotation lineage (one quotaId)", async () => {
      const limiter = await create();
      const root = fresh();
      const policies = [window("minute", 100, MINUTE), credits(3)];
      await limiter.decide(keyRequest(root, T0, policies, { quotaId: root }));
      await limiter.decide(keyRequest(`${root}-next`, T0 + 1, policies, { quotaId: root }));
      const last = await limiter.decide(
        keyRequest(`${root}-next`, T0 + 2, policies, { quotaId: root }),
      );
      expect(stateOf(last, policies, "credits")?.remaining).toBe(0);
      expect(
        (await limiter.decide(keyRequest(root, T0 + 3, policies, { quotaId: root }))).refusal,
      ).toBe("credits_exhausted");
    });

    it("is seeded from the store after a restart, never below what it already counts", async () => {
      const limiter = await create();
      if (limiter.seedCredits === undefined) return;
      const root = fresh();
      const policies = [window("minute", 100, MINUTE), credits(10)];
      await limiter.seedCredits(root, T0, 7, "credits-org");
      const seeded = await limiter.decide(
        keyRequest(root, T0 + 1, policies, { quotaId: root, orgId: "credits-org" }),
      );
      expect(stateOf(seeded, policies, "credits")?.remaining).toBe(2);
      // A seed lower than the count (the store behind the limiter) changes nothing.
      await limiter.seedCredits(root, T0, 3, "credits-org");
      const after = await limiter.decide(
        keyRequest(root, T0 + 2, policies, { quotaId: root, orgId: "credits-org" }),
      );
      expect(stateOf(after, policies, "credits")?.remaining).toBe(1);
    });

    it("shares out the last credits exactly among requests arriving together", async () => {
      const limiter = await create();
      const id = fresh();
      const policies = [window("minute", 100, MINUTE), credits(5)];
      const together = await Promise.all(
        Array.from({ length: 8 }, () => limiter.decide(keyRequest(id, T0, policies))),
      );
      expect(together.filter((decision) => decision.allowed)).toHaveLength(5);
      expect(together.filter((d) => d.refusal === "credits_exhausted")).toHaveLength(3);
    });
  });
}
