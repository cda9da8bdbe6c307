import { describe, expect, it } from "vitest";
import {
  ALGORITHMS,
  type CreateLimiter,
  DAY,
  keyRequest,
  limiterFactory,
  MINUTE,
  month,
  orgWindow,
  SECOND,
  stateOf,
  T0,
  violatedNames,
  window,
} from "./support.js";

/** Several policies per request: all or nothing, organizations, costs, shadow mode. */
export function describePolicyRules(createLimiter: CreateLimiter): void {
  const create = limiterFactory(createLimiter);

  describe.each(ALGORITHMS)("all or nothing with %s", (algorithm) => {
    it("charges none of a key's windows for a request one of them refused", async () => {
      const limiter = await create();
      const policies = [window("burst", 3, SECOND, algorithm), window("day", 5, DAY, algorithm)];
      const at = (now: number) => limiter.decide(keyRequest("aon", now, policies));
      for (let i = 0; i < 3; i++) expect((await at(T0)).allowed).toBe(true);
      // The burst refuses the next ones; the day is not charged for them.
      for (let i = 0; i < 4; i++) {
        const refused = await at(T0 + 1);
        expect(violatedNames(refused, policies)).toEqual(["burst"]);
        expect(stateOf(refused, policies, "day")).toMatchObject({ allowed: true, remaining: 2 });
      }
      expect(stateOf(await at(T0 + 2 * SECOND), policies, "day")?.remaining).toBe(1);
      expect(stateOf(await at(T0 + 2 * SECOND), policies, "day")?.remaining).toBe(0);
      // Now the day refuses: the burst, which would allow, is not charged either.
      const byDay = await at(T0 + 2 * SECOND);
      expect(byDay).toMatchObject({ allowed: false, refusal: "rate_limited" });
      expect(violatedNames(byDay, policies)).toEqual(["day"]);
      expect(stateOf(byDay, policies, "burst")).toMatchObject({ allowed: true, remaining: 1 });
      const burstLater = await limiter.decide(
        keyRequest("aon", T0 + 2 * SECOND, [window("burst", 3, SECOND, algorithm)]),
      );
      expect(burstLater.remaining).toBe(0); // one left, now spent: the refusal took none
    });

    it("lists every violated policy and waits for the last of them", async () => {
      const limiter = await create();
      const policies = [
        window("second", 1, SECOND, algorithm),
        window("hour", 1, 3600 * SECOND, algorithm),
      ];
      expect((await limiter.decide(keyRequest("both", T0, policies))).allowed).toBe(true);
      const refused = await limiter.decide(keyRequest("both", T0 + 10, policies));
      expect(violatedNames(refused, policies)).toEqual(["second", "hour"]);
      const [second, hour] = refused.policies;
      expect(refused.retryAfterMs).toBe(
        Math.max(second?.retryAfterMs ?? 0, hour?.retryAfterMs ?? 0),
      );
      expect(refused.retryAfterMs).toBeGreaterThan(SECOND);
    });

    it("decides a batch against several policies as one by one", async () => {
      const limiter = await create();
      const sequential = await create();
      const policies = [
        window("burst", 4, SECOND, algorithm),
        orgWindow("minute", 6, MINUTE, algorithm),
        month(5),
      ];
      const request = (id: string) => keyRequest(id, T0, policies, { orgId: `org-${id}` });
      const together = await Promise.all(
        Array.from({ length: 8 }, () => limiter.decide(request("pb1"))),
      );
      const oneByOne = [];
      for (let i = 0; i < 8; i++) oneByOne.push(await sequential.decide(request("pb2")));
      const summary = (decisions: typeof together) =>
        decisions.map((d) => [
          d.allowed,
          d.refusal,
          d.violated,
          d.retryAfterMs,
          d.policies.map((p) => [p.allowed, p.remaining, p.resetAtMs]),
        ]);
      expect(summary(together)).toEqual(summary(oneByOne));
      expect(together.filter((d) => d.allowed)).toHaveLength(4);
    });
  });

  describe("organizations", () => {
    it("shares an organization's window among all of its keys, whichever spends it", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), orgWindow("minute", 4, MINUTE)];
      const of = (key: string, orgId: string, now = T0) =>
        limiter.decide(keyRequest(key, now, policies, { orgId }));
      expect((await of("a1", "acme")).allowed).toBe(true);
      expect((await of("a2", "acme")).allowed).toBe(true);
      expect((await of("a1", "acme")).allowed).toBe(true);
      expect(stateOf(await of("a3", "acme"), policies, "org.minute")?.remaining).toBe(0);
      const refused = await of("a2", "acme");
      expect(refused).toMatchObject({ allowed: false, refusal: "rate_limited" });
      expect(violatedNames(refused, policies)).toEqual(["org.minute"]);
      // The key's own window was not charged for it: a2 spent 1 of its 100.
      expect(stateOf(refused, policies, "minute")?.remaining).toBe(99);
      // Another organization has a counter of its own.
      expect((await of("b1", "globex")).allowed).toBe(true);
      expect((await of("a1", "acme", T0 + 2 * MINUTE)).allowed).toBe(true);
    });
  });

  describe.each(ALGORITHMS)("costs with %s", (algorithm) => {
    it("spends a request's cost of every policy, and refuses what does not fit", async () => {
      const limiter = await create();
      const policies = [window("ten", 10, MINUTE, algorithm), month(100)];
      const spend = (cost: number, now = T0) =>
        limiter.decide(keyRequest(`cost-${algorithm}`, now, policies, { cost }));
      expect(await spend(3)).toMatchObject({ allowed: true, remaining: 7 });
      expect((await spend(3)).policies.map((p) => p.remaining)).toEqual([4, 94]);
      expect((await spend(3)).policies.map((p) => p.remaining)).toEqual([1, 91]);
      const refused = await spend(3);
      expect(refused).toMatchObject({ allowed: false, refusal: "rate_limited", remaining: 1 });
      expect(refused.policies[1]?.remaining).toBe(91); // the month is not charged either
      expect((await spend(1)).policies.map((p) => p.remaining)).toEqual([0, 90]);
      // A cost over the whole limit never fits, and charges nothing.
      const other = [window("ten", 10, MINUTE, algorithm)];
      const huge = await limiter.decide(keyRequest(`huge-${algorithm}`, T0, other, { cost: 11 }));
      expect(huge).toMatchObject({ allowed: false, remaining: 10 });
      expect(huge.retryAfterMs).toBeGreaterThan(0);
      expect((await limiter.decide(keyRequest(`huge-${algorithm}`, T0, other))).remaining).toBe(9);
    });

    it("checks without spending at cost 0", async () => {
      const limiter = await create();
      const policies = [window("two", 2, MINUTE, algorithm)];
      const at = (cost: number) =>
        limiter.decide(keyRequest(`zero-${algorithm}`, T0, policies, { cost }));
      for (let i = 0; i < 3; i++)
        expect(await at(0)).toMatchObject({ allowed: true, remaining: 2 });
      expect(await at(1)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await at(0)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await at(1)).toMatchObject({ allowed: true, remaining: 0 });
      const refused = await at(0);
      expect(refused).toMatchObject({ allowed: false, remaining: 0 });
      expect(refused.retryAfterMs).toBeGreaterThan(0);
    });
  });

  describe("shadow policies", () => {
    it("never refuse: they report their would-be refusals and are charged only what they allow", async () => {
      const limiter = await create();
      const policies = [
        window("minute", 100, MINUTE),
        window("trial", 2, MINUTE, "sliding-window-log", { mode: "shadow" }),
      ];
      const decisions = [];
      for (let i = 0; i < 5; i++)
        decisions.push(await limiter.decide(keyRequest("shadow", T0 + i, policies)));
      expect(decisions.every((d) => d.allowed)).toBe(true);
      expect(decisions.map((d) => d.shadowRefused ?? [])).toEqual([[], [], [1], [1], [1]]);
      expect(decisions.map((d) => d.policies[1]?.remaining)).toEqual([1, 0, 0, 0, 0]);
      expect(decisions[4]?.remaining).toBe(95); // the enforced window counted all five
      // Together, in one batch, the same.
      const batch = await Promise.all(
        Array.from({ length: 4 }, () => limiter.decide(keyRequest("shadow-b", T0, policies))),
      );
      expect(batch.map((d) => [d.allowed, d.shadowRefused ?? []])).toEqual([
        [true, []],
        [true, []],
        [true, [1]],
        [true, [1]],
      ]);
    });
  });
}
