import type { LimitDecision, LimitPolicy } from "@keyguard/core/internal";
import { describe, expect, it } from "vitest";
import {
  type CreateLimiter,
  DAY,
  keyRequest,
  limiterFactory,
  MINUTE,
  SECOND,
  stateOf,
  T0,
  violatedNames,
  window,
} from "./support.js";

/** A key's cap on requests in flight (`concurrency`), or its organization's. */
export function concurrency(
  limit: number,
  options: { mode?: "enforce" | "shadow"; scope?: "key" | "organization" } = {},
): LimitPolicy {
  const scope = options.scope ?? "key";
  return {
    name: scope === "organization" ? "org.concurrency" : "concurrency",
    limit,
    windowMs: 0,
    algorithm: "concurrency",
    mode: options.mode ?? "enforce",
    scope,
  };
}

export interface ConcurrencyConformanceOptions {
  /**
   * The lease a slot lives for when never given back (Redis: the process that took it
   * died), as the limiter under test was made with. Without one, the limiter keeps slots
   * until they are released (one process: the one serving the requests).
   */
  readonly slotLeaseMs?: number;
}

async function release(decision: LimitDecision): Promise<void> {
  expect(decision.slot, "an allowed request holds a slot").toBeDefined();
  await decision.slot?.release();
}

/**
 * Concurrency caps: a slot per allowed request, given back by `slot.release()`, all or
 * nothing with the windows, shared by an organization's keys, blind to cost, shadow
 * mode, and (with a lease) the end of slots no one gives back.
 */
export function describeConcurrencyRules(
  createLimiter: CreateLimiter,
  options: ConcurrencyConformanceOptions = {},
): void {
  const create = limiterFactory(createLimiter);

  describe("concurrency caps", () => {
    it("holds a slot per allowed request and refuses the one past the cap until one is given back", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), concurrency(2)];
      const at = (now: number) => limiter.decide(keyRequest("c1", now, policies));
      const first = await at(T0);
      const second = await at(T0 + 1);
      expect(first).toMatchObject({ allowed: true });
      expect(stateOf(first, policies, "concurrency")).toMatchObject({ limit: 2, remaining: 1 });
      expect(stateOf(second, policies, "concurrency")).toMatchObject({ remaining: 0 });
      const refused = await at(T0 + 2);
      expect(refused).toMatchObject({ allowed: false, refusal: "concurrency_limited" });
      expect(refused.slot).toBeUndefined();
      expect(violatedNames(refused, policies)).toEqual(["concurrency"]);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(stateOf(refused, policies, "concurrency")).toMatchObject({ remaining: 0 });
      await release(first);
      const third = await at(T0 + 3);
      expect(third.allowed).toBe(true);
      expect((await at(T0 + 4)).allowed).toBe(false);
      await release(second);
      await release(third);
      const again = await at(T0 + 5);
      expect(stateOf(again, policies, "concurrency")).toMatchObject({ remaining: 1 });
    });

    it("gives a slot back once however often it is released", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), concurrency(2)];
      const at = (now: number) => limiter.decide(keyRequest("c2", now, policies));
      const a = await at(T0);
      const b = await at(T0);
      await a.slot?.release();
      await a.slot?.release();
      await a.slot?.release();
      const c = await at(T0 + 1);
      expect(c.allowed).toBe(true);
      // b and c hold the two slots: a's extra releases freed neither.
      expect(await at(T0 + 2)).toMatchObject({ allowed: false, refusal: "concurrency_limited" });
      await release(b);
      await release(c);
    });

    it("charges no window for a request refused for concurrency", async () => {
      const limiter = await create();
      const policies = [window("minute", 5, MINUTE), window("day", 10, DAY), concurrency(1)];
      const at = (now: number) => limiter.decide(keyRequest("c3", now, policies));
      const held = await at(T0);
      for (let i = 1; i <= 3; i++) {
        const refused = await at(T0 + i);
        expect(refused.refusal).toBe("concurrency_limited");
        expect(stateOf(refused, policies, "minute")).toMatchObject({ remaining: 4 });
      }
      await release(held);
      const next = await at(T0 + 10);
      expect(next.allowed).toBe(true);
      expect(stateOf(next, policies, "minute")).toMatchObject({ remaining: 3 });
      expect(stateOf(next, policies, "day")).toMatchObject({ remaining: 8 });
      await release(next);
    });

    it("takes no slot for a request a window refused", async () => {
      const limiter = await create();
      const policies = [window("burst", 1, SECOND), concurrency(2)];
      const at = (now: number) => limiter.decide(keyRequest("c4", now, policies));
      const first = await at(T0);
      expect(first.allowed).toBe(true);
      for (let i = 1; i <= 5; i++) {
        const refused = await at(T0 + i);
        expect(refused).toMatchObject({ allowed: false, refusal: "rate_limited" });
        expect(violatedNames(refused, policies)).toEqual(["burst"]);
        expect(refused.slot).toBeUndefined();
      }
      // Five refusals took nothing: one slot is still free.
      const second = await at(T0 + SECOND);
      expect(second.allowed).toBe(true);
      expect(stateOf(second, policies, "concurrency")).toMatchObject({ remaining: 0 });
      // Both refuse now: the window's refusal names the window, the one to wait for.
      const both = await at(T0 + SECOND + 1);
      expect(both.refusal).toBe("rate_limited");
      expect(violatedNames(both, policies)).toEqual(["burst", "concurrency"]);
      await release(first);
      await release(second);
    });

    it("shares an organization's slots across its keys, and no other organization's", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), concurrency(2, { scope: "organization" })];
      const of = (keyId: string, orgId: string) =>
        limiter.decide(keyRequest(keyId, T0, policies, { orgId }));
      const a = await of("k1", "acme");
      const b = await of("k2", "acme");
      expect(a.allowed && b.allowed).toBe(true);
      const refused = await of("k3", "acme");
      expect(refused.refusal).toBe("concurrency_limited");
      expect(violatedNames(refused, policies)).toEqual(["org.concurrency"]);
      expect((await of("k4", "globex")).allowed).toBe(true);
      await release(a);
      expect((await of("k3", "acme")).allowed).toBe(true);
      await release(b);
    });

    it("holds a slot of the key's cap and of its organization's, and gives both back", async () => {
      const limiter = await create();
      const policies = [
        window("minute", 100, MINUTE),
        concurrency(1),
        concurrency(5, { scope: "organization" }),
      ];
      const of = (keyId: string) =>
        limiter.decide(keyRequest(keyId, T0, policies, { orgId: "both-org" }));
      const a = await of("kb1");
      expect(stateOf(a, policies, "org.concurrency")).toMatchObject({ remaining: 4 });
      const refused = await of("kb1");
      expect(violatedNames(refused, policies)).toEqual(["concurrency"]);
      // The key's refusal took no organization slot either.
      const other = await of("kb2");
      expect(stateOf(other, policies, "org.concurrency")).toMatchObject({ remaining: 3 });
      await release(a);
      const later = await of("kb1");
      expect(stateOf(later, policies, "org.concurrency")).toMatchObject({ remaining: 3 });
      await release(later);
      await release(other);
    });

    it("takes one slot per request whatever its cost, 0 included", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), concurrency(2)];
      const heavy = await limiter.decide(keyRequest("c5", T0, policies, { cost: 40 }));
      expect(stateOf(heavy, policies, "minute")).toMatchObject({ remaining: 60 });
      expect(stateOf(heavy, policies, "concurrency")).toMatchObject({ remaining: 1 });
      const free = await limiter.decide(keyRequest("c5", T0, policies, { cost: 0 }));
      expect(free.allowed).toBe(true);
      expect(stateOf(free, policies, "concurrency")).toMatchObject({ remaining: 0 });
      expect(stateOf(free, policies, "minute")).toMatchObject({ remaining: 60 });
      await release(heavy);
      await release(free);
    });

    it("lets a shadow cap refuse nothing and report the requests it would have refused", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), concurrency(1, { mode: "shadow" })];
      const at = (now: number) => limiter.decide(keyRequest("c6", now, policies));
      const first = await at(T0);
      expect(first.shadowRefused).toBeUndefined();
      const over = await at(T0 + 1);
      expect(over.allowed).toBe(true);
      expect(over.shadowRefused).toEqual([1]);
      // Counted as if enforced: the would-be refused request took no slot.
      await release(first);
      const next = await at(T0 + 2);
      expect(next.shadowRefused).toBeUndefined();
      await release(next);
    });

    it("decides requests arriving together exactly: as many slots as the cap", async () => {
      const limiter = await create();
      const policies = [window("minute", 100, MINUTE), concurrency(3)];
      const decisions = await Promise.all(
        Array.from({ length: 8 }, () => limiter.decide(keyRequest("c7", T0, policies))),
      );
      const allowed = decisions.filter((decision) => decision.allowed);
      expect(allowed).toHaveLength(3);
      expect(decisions.filter((d) => d.refusal === "concurrency_limited")).toHaveLength(5);
      for (const decision of allowed) await release(decision);
      const after = await Promise.all(
        Array.from({ length: 4 }, () => limiter.decide(keyRequest("c7", T0 + 1, policies))),
      );
      expect(after.filter((decision) => decision.allowed)).toHaveLength(3);
      for (const decision of after) if (decision.allowed) await release(decision);
    });

    it("holds no slot for a key without a cap", async () => {
      const limiter = await create();
      const decision = await limiter.decide(keyRequest("c8", T0, [window("minute", 5, MINUTE)]));
      expect(decision.allowed).toBe(true);
      expect(decision.slot).toBeUndefined();
    });

    const lease = options.slotLeaseMs;
    if (lease !== undefined) {
      it("ends a slot no one gives back with its lease (the process holding it died)", async () => {
        const limiter = await create();
        const policies = [window("minute", 100, MINUTE), concurrency(1)];
        const at = (now: number) => limiter.decide(keyRequest("c9", now, policies));
        expect((await at(T0)).allowed).toBe(true); // never released
        expect((await at(T0 + lease - 1)).refusal).toBe("concurrency_limited");
        const after = await at(T0 + lease + 1);
        expect(after.allowed).toBe(true);
        await release(after);
      });
    } else {
      it("keeps a slot until it is given back, however long its request runs", async () => {
        const limiter = await create();
        const policies = [window("minute", 100, DAY * 30), concurrency(1)];
        const at = (now: number) => limiter.decide(keyRequest("c9", now, policies));
        const held = await at(T0);
        expect((await at(T0 + DAY)).refusal).toBe("concurrency_limited");
        await release(held);
        expect((await at(T0 + DAY + 1)).allowed).toBe(true);
      });
    }
  });
}
