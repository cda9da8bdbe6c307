import type { Limiter, RateLimitAlgorithm } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const ALGORITHMS: RateLimitAlgorithm[] = ["sliding-window-log", "sliding-window-counter", "gcra"];

/**
 * The behaviour every Limiter must have. A backend's test file:
 *
 * ```ts
 * describeLimiterConformance("memory", async () => new MemoryLimiter());
 * ```
 *
 * Time is passed explicitly, so windows, quotas and block expiry are tested without sleeps.
 */
export function describeLimiterConformance(
  name: string,
  createLimiter: () => Promise<Limiter>,
): void {
  describe(`Limiter conformance: ${name}`, () => {
    const open: Limiter[] = [];
    afterEach(async () => {
      for (const limiter of open.splice(0)) await limiter.close();
    });
    const create = async () => {
      const limiter = await createLimiter();
      open.push(limiter);
      return limiter;
    };
    const request = (
      keyId: string,
      now: number,
      rate: number,
      algorithm: RateLimitAlgorithm,
      monthly: number | null = null,
    ) => ({
      now,
      client: "203.0.113.7",
      path: "/api/data",
      algorithm,
      key: { id: keyId, rateLimitPerMinute: rate, monthlyLimit: monthly },
    });

    describe.each(ALGORITHMS)("key rate limit with %s", (algorithm) => {
      it("allows exactly the limit in a burst, then refuses until the window moves", async () => {
        const limiter = await create();
        const decisions = [];
        // 7 a minute: the spacing (8571.4 ms) is not a whole number of milliseconds.
        for (let i = 0; i < 10; i++)
          decisions.push(await limiter.decide(request("k1", T0, 7, algorithm)));
        expect(decisions.filter((d) => d.allowed)).toHaveLength(7);
        expect(decisions[0]).toMatchObject({ allowed: true, limit: 7, remaining: 6 });
        const refused = decisions[9];
        expect(refused).toMatchObject({
          allowed: false,
          refusal: "rate_limited",
          limit: 7,
          remaining: 0,
        });
        expect(refused?.retryAfterMs).toBeGreaterThan(0);
        expect(refused?.retryAfterMs).toBeLessThanOrEqual(MINUTE);
        // Another key is counted on its own.
        expect((await limiter.decide(request("k2", T0, 7, algorithm))).allowed).toBe(true);
        // Two windows later everything is available again.
        expect(await limiter.decide(request("k1", T0 + 2 * MINUTE, 7, algorithm))).toMatchObject({
          allowed: true,
          remaining: 6,
        });
      });

      it("decides requests arriving together as if they came one after another", async () => {
        const limiter = await create();
        const sequential = await create();
        const together = await Promise.all(
          Array.from({ length: 10 }, () => limiter.decide(request("b1", T0, 7, algorithm))),
        );
        const oneByOne = [];
        for (let i = 0; i < 10; i++)
          oneByOne.push(await sequential.decide(request("b2", T0, 7, algorithm)));
        const summary = (decisions: typeof together) =>
          decisions.map((d) => [d.allowed, d.refusal, d.remaining, d.resetAtMs, d.retryAfterMs]);
        expect(summary(together)).toEqual(summary(oneByOne));
        expect(together.map((d) => d.remaining)).toEqual([6, 5, 4, 3, 2, 1, 0, 0, 0, 0]);
        // And the state they leave is the same: the next request is refused alike.
        expect(summary([await limiter.decide(request("b1", T0 + 1, 7, algorithm))])).toEqual(
          summary([await sequential.decide(request("b2", T0 + 1, 7, algorithm))]),
        );
      });
    });

    it("applies a raised limit at once, even to a key it has just refused", async () => {
      const limiter = await create();
      for (let i = 0; i < 2; i++)
        await limiter.decide(request("raise", T0, 2, "sliding-window-log"));
      expect((await limiter.decide(request("raise", T0, 2, "sliding-window-log"))).refusal).toBe(
        "rate_limited",
      );
      expect(await limiter.decide(request("raise", T0, 5, "sliding-window-log"))).toMatchObject({
        allowed: true,
        remaining: 2,
      });
    });

    describe("monthly quota", () => {
      it("allows monthlyLimit requests per calendar month (UTC), counting only allowed ones", async () => {
        const limiter = await create();
        const at = (now: number, rate = 100) =>
          limiter.decide(request("q", now, rate, "sliding-window-log", 3));
        expect((await at(T0)).quota).toMatchObject({ limit: 3, remaining: 2 });
        expect((await at(T0)).allowed).toBe(true);
        expect((await at(T0)).quota?.remaining).toBe(0);
        const refused = await at(T0 + 1000);
        expect(refused).toMatchObject({ allowed: false, refusal: "quota_exceeded" });
        expect(refused.retryAfterMs).toBe(Date.UTC(2026, 1, 1) - (T0 + 1000));
        expect((await at(Date.UTC(2026, 1, 1))).allowed).toBe(true);
      });

      it("counts the keys of one rotation lineage (one quotaId) against one quota, each with its own rate", async () => {
        const limiter = await create();
        const lineage = (id: string, now: number, rate = 100) => ({
          ...request(id, now, rate, "sliding-window-log", 10),
          key: { id, quotaId: "root", rateLimitPerMinute: rate, monthlyLimit: 10 },
        });
        // The first key of the lineage uses 7 of 10 this month...
        for (let i = 0; i < 7; i++) await limiter.decide(lineage("root", T0 + i));
        // ...its successor has 3 left, and during a grace period both spend them.
        expect((await limiter.decide(lineage("next", T0 + 10))).quota?.remaining).toBe(2);
        expect((await limiter.decide(lineage("root", T0 + 11))).quota?.remaining).toBe(1);
        expect((await limiter.decide(lineage("next", T0 + 12))).quota?.remaining).toBe(0);
        expect(await limiter.decide(lineage("next", T0 + 13))).toMatchObject({
          allowed: false,
          refusal: "quota_exceeded",
        });
        expect((await limiter.decide(lineage("root", T0 + 14))).refusal).toBe("quota_exceeded");
        // The rate limit stays each key's own: 2 a minute for one does not stop the other.
        const rated = await create();
        for (let i = 0; i < 2; i++) await rated.decide(lineage("a", T0, 2));
        expect((await rated.decide(lineage("a", T0, 2))).refusal).toBe("rate_limited");
        expect((await rated.decide(lineage("b", T0, 2))).allowed).toBe(true);
        // A key spending its own quota is not touched.
        const own = await limiter.decide(request("other", T0, 100, "sliding-window-log", 10));
        expect(own.quota?.remaining).toBe(9);
      });

      it("seeds a lineage's quota by its quota id", async () => {
        const limiter = await create();
        if (limiter.seedQuota === undefined) return;
        await limiter.seedQuota("seeded-root", Date.UTC(2026, 0, 1), 7);
        const decision = await limiter.decide({
          ...request("seeded-next", T0, 100, "sliding-window-log", 10),
          key: {
            id: "seeded-next",
            quotaId: "seeded-root",
            rateLimitPerMinute: 100,
            monthlyLimit: 10,
          },
        });
        expect(decision.quota?.remaining).toBe(2);
      });

      it("shares out the last of a quota among requests arriving together", async () => {
        const limiter = await create();
        await limiter.decide(request("qt", T0, 100, "gcra", 4));
        const together = await Promise.all(
          Array.from({ length: 5 }, () => limiter.decide(request("qt", T0, 100, "gcra", 4))),
        );
        expect(together.map((d) => d.refusal ?? d.quota?.remaining)).toEqual([
          2,
          1,
          0,
          "quota_exceeded",
          "quota_exceeded",
        ]);
        // Rate limit first, quota second, as one by one: 2 per minute, 5 in the month.
        const mixed = await Promise.all(
          Array.from({ length: 4 }, () => limiter.decide(request("qm", T0, 2, "gcra", 5))),
        );
        expect(mixed.map((d) => d.refusal ?? d.quota?.remaining)).toEqual([
          4,
          3,
          "rate_limited",
          "rate_limited",
        ]);
      });

      it.each(ALGORITHMS)(
        "reports the quota as it stands on a rate-limit refusal (%s), counting nothing",
        async (algorithm) => {
          const limiter = await create();
          const monthEnd = Date.UTC(2026, 1, 1);
          const at = (now: number) =>
            limiter.decide(request(`rq-${algorithm}`, now, 2, algorithm, 10));
          const summary = (d: Awaited<ReturnType<typeof at>>) => [
            d.refusal ?? "allowed",
            d.quota?.limit,
            d.quota?.remaining,
            d.quota?.resetAtMs,
          ];
          const together = await Promise.all(Array.from({ length: 5 }, () => at(T0)));
          expect(together.map(summary)).toEqual([
            ["allowed", 10, 9, monthEnd],
            ["allowed", 10, 8, monthEnd],
            ["rate_limited", 10, 8, monthEnd],
            ["rate_limited", 10, 8, monthEnd],
            ["rate_limited", 10, 8, monthEnd],
          ]);
          // One by one too, and again while the refusal holds (a cached one, on Redis).
          for (let i = 1; i <= 3; i++) {
            expect(summary(await at(T0 + i))).toEqual(["rate_limited", 10, 8, monthEnd]);
          }
          const later = await at(T0 + 2 * MINUTE);
          expect(summary(later)).toEqual(["allowed", 10, 7, monthEnd]);
        },
      );

      it.each(ALGORITHMS)(
        "reports a used-up quota on its own refusal, with the minute's figures (%s)",
        async (algorithm) => {
          const limiter = await create();
          const at = (now: number) =>
            limiter.decide(request(`qx-${algorithm}`, now, 5, algorithm, 1));
          const first = await at(T0);
          expect(first.quota?.remaining).toBe(0);
          const refused = await at(T0 + 1000);
          expect(refused).toMatchObject({
            allowed: false,
            refusal: "quota_exceeded",
            limit: 5,
            remaining: 4, // the minute as it stands: the refused request is not counted
            quota: { limit: 1, remaining: 0, resetAtMs: Date.UTC(2026, 1, 1) },
          });
          // When the minute is fully available again (each algorithm has its own answer).
          expect(refused.resetAtMs).toBe(first.resetAtMs);
        },
      );

      it("does not count a request the rate limit refused", async () => {
        const limiter = await create();
        const at = (now: number) => limiter.decide(request("r", now, 1, "sliding-window-log", 2));
        expect((await at(T0)).allowed).toBe(true);
        expect((await at(T0)).refusal).toBe("rate_limited");
        expect((await at(T0)).refusal).toBe("rate_limited");
        expect(await at(T0 + MINUTE)).toMatchObject({ allowed: true, quota: { remaining: 0 } });
      });
    });

    describe("blocks", () => {
      it("refuses a globally blocked client everywhere until the block ends", async () => {
        const limiter = await create();
        await limiter.block(
          {
            client: "198.51.100.1",
            scope: "global",
            untilMs: T0 + 5000,
            reason: "manual",
          },
          T0,
        );
        for (const path of ["/api/data", "/login"]) {
          const decision = await limiter.decide({
            now: T0,
            client: "198.51.100.1",
            path,
            algorithm: "gcra",
          });
          expect(decision).toMatchObject({
            allowed: false,
            refusal: "ip_blocked",
            retryAfterMs: 5000,
          });
          expect(decision.block?.reason).toBe("manual");
        }
        expect(
          (
            await limiter.decide({
              now: T0,
              client: "198.51.100.2",
              path: "/login",
              algorithm: "gcra",
            })
          ).allowed,
        ).toBe(true);
        expect(
          (
            await limiter.decide({
              now: T0 + 5000,
              client: "198.51.100.1",
              path: "/login",
              algorithm: "gcra",
            })
          ).allowed,
        ).toBe(true);
      });

      it("limits a path block to its path, and lifts blocks on request", async () => {
        const limiter = await create();
        await limiter.block(
          {
            client: "c",
            scope: "path",
            path: "/login",
            untilMs: T0 + 60_000,
            reason: "lockout",
          },
          T0,
        );
        expect(
          (await limiter.decide({ now: T0, client: "c", path: "/login", algorithm: "gcra" }))
            .refusal,
        ).toBe("ip_blocked");
        expect(
          (await limiter.decide({ now: T0, client: "c", path: "/api/data", algorithm: "gcra" }))
            .allowed,
        ).toBe(true);
        expect(await limiter.findBlock("c", "/login", T0)).toMatchObject({
          scope: "path",
          path: "/login",
        });
        expect(await limiter.listBlocks(T0)).toHaveLength(1);
        expect(await limiter.unblock("c")).toBe(true);
        expect(await limiter.unblock("c")).toBe(false);
        expect(await limiter.findBlock("c", "/login", T0)).toBeUndefined();
        expect(await limiter.listBlocks(T0)).toEqual([]);
      });

      it("does not let a shorter block replace a longer one on the same scope", async () => {
        const limiter = await create();
        await limiter.block(
          { client: "c", scope: "global", untilMs: T0 + 10_000, reason: "a" },
          T0,
        );
        await limiter.block(
          {
            client: "c",
            scope: "path",
            path: "/x",
            untilMs: T0 + 99_000,
            reason: "b",
          },
          T0,
        );
        expect((await limiter.findBlock("c", "/x", T0 + 20_000))?.reason).toBe("b");
        expect(await limiter.findBlock("c", "/y", T0 + 20_000)).toBeUndefined();
      });
    });

    describe("buckets", () => {
      it("count hits per bucket and can be reset", async () => {
        const limiter = await create();
        const hit = (bucket: string, now = T0) =>
          limiter.hit(bucket, now, 3, MINUTE, "sliding-window-log");
        expect((await hit("fail:a")).remaining).toBe(2);
        await hit("fail:a");
        expect((await hit("fail:a")).allowed).toBe(true);
        expect((await hit("fail:a")).allowed).toBe(false);
        expect((await hit("fail:b")).allowed).toBe(true);
        await limiter.reset("fail:a");
        expect((await hit("fail:a")).remaining).toBe(2);
        expect((await hit("fail:b", T0 + MINUTE)).remaining).toBe(2);
      });
    });
  });
}
