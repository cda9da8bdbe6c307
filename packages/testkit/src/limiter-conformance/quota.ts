import { describe, expect, it } from "vitest";
import {
  ALGORITHMS,
  type CreateLimiter,
  keyRequest,
  limiterFactory,
  MINUTE,
  MONTH_END,
  seedPolicies,
  stateOf,
  T0,
} from "./support.js";

/** The calendar-month quota (`month`) beside the key's `minute`. */
export function describeQuotaRules(createLimiter: CreateLimiter): void {
  const create = limiterFactory(createLimiter);

  describe("monthly quota", () => {
    it("allows monthlyLimit requests per calendar month (UTC), counting only allowed ones", async () => {
      const limiter = await create();
      const policies = seedPolicies(100, "sliding-window-log", 3);
      const at = (now: number) => limiter.decide(keyRequest("q", now, policies));
      expect(stateOf(await at(T0), policies, "month")).toMatchObject({ limit: 3, remaining: 2 });
      expect((await at(T0)).allowed).toBe(true);
      expect(stateOf(await at(T0), policies, "month")?.remaining).toBe(0);
      const refused = await at(T0 + 1000);
      expect(refused).toMatchObject({ allowed: false, refusal: "quota_exceeded", violated: [1] });
      expect(refused.retryAfterMs).toBe(MONTH_END - (T0 + 1000));
      expect((await at(MONTH_END)).allowed).toBe(true);
    });

    it("counts the keys of one rotation lineage (one quotaId) against one quota, each with its own minute", async () => {
      const limiter = await create();
      const lineage = (id: string, now: number, rate = 100) =>
        keyRequest(id, now, seedPolicies(rate, "sliding-window-log", 10), { quotaId: "root" });
      const quotaLeft = async (id: string, now: number) =>
        (await limiter.decide(lineage(id, now))).policies[1]?.remaining;
      // The first key of the lineage uses 7 of 10 this month...
      for (let i = 0; i < 7; i++) await limiter.decide(lineage("root", T0 + i));
      // ...its successor has 3 left, and during a grace period both spend them.
      expect(await quotaLeft("next", T0 + 10)).toBe(2);
      expect(await quotaLeft("root", T0 + 11)).toBe(1);
      expect(await quotaLeft("next", T0 + 12)).toBe(0);
      expect(await limiter.decide(lineage("next", T0 + 13))).toMatchObject({
        allowed: false,
        refusal: "quota_exceeded",
      });
      expect((await limiter.decide(lineage("root", T0 + 14))).refusal).toBe("quota_exceeded");
      // The minute stays each key's own: 2 a minute for one does not stop the other.
      const rated = await create();
      for (let i = 0; i < 2; i++) await rated.decide(lineage("a", T0, 2));
      expect((await rated.decide(lineage("a", T0, 2))).refusal).toBe("rate_limited");
      expect((await rated.decide(lineage("b", T0, 2))).allowed).toBe(true);
      // A key spending its own quota is not touched.
      const own = await limiter.decide(
        keyRequest("other", T0, seedPolicies(100, "sliding-window-log", 10)),
      );
      expect(own.policies[1]?.remaining).toBe(9);
    });

    it("seeds a lineage's quota by its quota id", async () => {
      const limiter = await create();
      if (limiter.seedQuota === undefined) return;
      await limiter.seedQuota("seeded-root", Date.UTC(2026, 0, 1), 7, "seed-org");
      const decision = await limiter.decide(
        keyRequest("seeded-next", T0, seedPolicies(100, "sliding-window-log", 10), {
          quotaId: "seeded-root",
          orgId: "seed-org",
        }),
      );
      expect(decision.policies[1]?.remaining).toBe(2);
    });

    it("shares out the last of a quota among requests arriving together", async () => {
      const limiter = await create();
      const roomy = seedPolicies(100, "gcra", 4);
      await limiter.decide(keyRequest("qt", T0, roomy));
      const together = await Promise.all(
        Array.from({ length: 5 }, () => limiter.decide(keyRequest("qt", T0, roomy))),
      );
      expect(together.map((d) => d.refusal ?? d.policies[1]?.remaining)).toEqual([
        2,
        1,
        0,
        "quota_exceeded",
        "quota_exceeded",
      ]);
      // Minute first, month second, as one by one: 2 per minute, 5 in the month.
      const tight = seedPolicies(2, "gcra", 5);
      const mixed = await Promise.all(
        Array.from({ length: 4 }, () => limiter.decide(keyRequest("qm", T0, tight))),
      );
      expect(mixed.map((d) => d.refusal ?? d.policies[1]?.remaining)).toEqual([
        4,
        3,
        "rate_limited",
        "rate_limited",
      ]);
    });

    it.each(ALGORITHMS)(
      "reports the quota as it stands on a minute refusal (%s), counting nothing",
      async (algorithm) => {
        const limiter = await create();
        const policies = seedPolicies(2, algorithm, 10);
        const at = (now: number) => limiter.decide(keyRequest(`rq-${algorithm}`, now, policies));
        const summary = (d: Awaited<ReturnType<typeof at>>) => [
          d.refusal ?? "allowed",
          d.policies[1]?.limit,
          d.policies[1]?.remaining,
          d.policies[1]?.resetAtMs,
        ];
        const together = await Promise.all(Array.from({ length: 5 }, () => at(T0)));
        expect(together.map(summary)).toEqual([
          ["allowed", 10, 9, MONTH_END],
          ["allowed", 10, 8, MONTH_END],
          ["rate_limited", 10, 8, MONTH_END],
          ["rate_limited", 10, 8, MONTH_END],
          ["rate_limited", 10, 8, MONTH_END],
        ]);
        // One by one too, and again while the refusal holds (a cached one, on Redis).
        for (let i = 1; i <= 3; i++) {
          expect(summary(await at(T0 + i))).toEqual(["rate_limited", 10, 8, MONTH_END]);
        }
        expect(summary(await at(T0 + 2 * MINUTE))).toEqual(["allowed", 10, 7, MONTH_END]);
      },
    );

    it.each(ALGORITHMS)(
      "reports a used-up quota on its own refusal, with the minute as it stands (%s)",
      async (algorithm) => {
        const limiter = await create();
        const policies = seedPolicies(5, algorithm, 1);
        const at = (now: number) => limiter.decide(keyRequest(`qx-${algorithm}`, now, policies));
        const first = await at(T0);
        expect(first.policies[1]?.remaining).toBe(0);
        const refused = await at(T0 + 1000);
        expect(refused).toMatchObject({
          allowed: false,
          refusal: "quota_exceeded",
          limit: 1,
          remaining: 0,
          resetAtMs: MONTH_END,
          violated: [1],
        });
        // The minute as it stands: the refused request is not counted.
        expect(refused.policies[0]).toMatchObject({ limit: 5, remaining: 4 });
        // When the minute is fully available again (each algorithm has its own answer).
        expect(refused.policies[0]?.resetAtMs).toBe(first.policies[0]?.resetAtMs);
      },
    );

    it("does not count a request the minute refused", async () => {
      const limiter = await create();
      const policies = seedPolicies(1, "sliding-window-log", 2);
      const at = (now: number) => limiter.decide(keyRequest("r", now, policies));
      expect((await at(T0)).allowed).toBe(true);
      expect((await at(T0)).refusal).toBe("rate_limited");
      expect((await at(T0)).refusal).toBe("rate_limited");
      const later = await at(T0 + MINUTE);
      expect(later.allowed).toBe(true);
      expect(later.policies[1]?.remaining).toBe(0);
    });
  });
}
