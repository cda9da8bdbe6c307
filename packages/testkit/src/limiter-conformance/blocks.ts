import { describe, expect, it } from "vitest";
import { type CreateLimiter, limiterFactory, MINUTE, T0 } from "./support.js";

/** Client blocks and `hit` buckets. */
export function describeBlockRules(createLimiter: CreateLimiter): void {
  const create = limiterFactory(createLimiter);
  const anonymous = (client: string, path: string, now = T0) => ({ now, client, path });

  describe("blocks", () => {
    it("refuses a globally blocked client everywhere until the block ends", async () => {
      const limiter = await create();
      await limiter.block(
        { client: "198.51.100.1", scope: "global", untilMs: T0 + 5000, reason: "manual" },
        T0,
      );
      for (const path of ["/api/data", "/login"]) {
        const decision = await limiter.decide(anonymous("198.51.100.1", path));
        expect(decision).toMatchObject({
          allowed: false,
          refusal: "ip_blocked",
          retryAfterMs: 5000,
        });
        expect(decision.block?.reason).toBe("manual");
      }
      expect((await limiter.decide(anonymous("198.51.100.2", "/login"))).allowed).toBe(true);
      expect((await limiter.decide(anonymous("198.51.100.1", "/login", T0 + 5000))).allowed).toBe(
        true,
      );
    });

    it("limits a path block to its path, and lifts blocks on request", async () => {
      const limiter = await create();
      await limiter.block(
        { client: "c", scope: "path", path: "/login", untilMs: T0 + 60_000, reason: "lockout" },
        T0,
      );
      expect((await limiter.decide(anonymous("c", "/login"))).refusal).toBe("ip_blocked");
      expect((await limiter.decide(anonymous("c", "/api/data"))).allowed).toBe(true);
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
      await limiter.block({ client: "c", scope: "global", untilMs: T0 + 10_000, reason: "a" }, T0);
      await limiter.block(
        { client: "c", scope: "path", path: "/x", untilMs: T0 + 99_000, reason: "b" },
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

    it("count an event's cost, and only look at cost 0", async () => {
      const limiter = await create();
      const hit = (cost: number) =>
        limiter.hit("cost:a", T0, 10, MINUTE, "sliding-window-counter", cost);
      expect(await hit(4)).toMatchObject({ allowed: true, remaining: 6 });
      expect(await hit(0)).toMatchObject({ allowed: true, remaining: 6 });
      expect(await hit(6)).toMatchObject({ allowed: true, remaining: 0 });
      expect((await hit(1)).allowed).toBe(false);
    });
  });
}
