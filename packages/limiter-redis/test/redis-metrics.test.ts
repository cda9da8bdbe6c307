import { KeyGuardInstruments } from "@keyguard/core/internal";
import {
  cleanedRedisPrefixes,
  redisAvailable,
  seedPolicies,
  TEST_REDIS_URL,
} from "@keyguard/testkit";
import { describe, expect, it } from "vitest";
import { createRedisBackend } from "../src/index.js";

const prefixFor = cleanedRedisPrefixes();

describe.runIf(await redisAvailable())("Redis limiter metrics", () => {
  it("counts each script call: decisions of one key in one turn share one", async () => {
    const backend = await createRedisBackend({ url: TEST_REDIS_URL, prefix: prefixFor("metrics") });
    try {
      const instruments = new KeyGuardInstruments();
      backend.limiter.useMetrics?.(instruments);
      const decide = () =>
        backend.limiter.decide({
          now: Date.now(),
          client: "203.0.113.20",
          path: "/api/data",
          key: { id: "metered", quotaId: "metered" },
          policies: seedPolicies(1000, "sliding-window-log", null),
        });
      for (let i = 0; i < 3; i++) expect((await decide()).allowed).toBe(true);
      const together = await Promise.all([decide(), decide(), decide(), decide()]);
      expect(together.every((decision) => decision.allowed)).toBe(true);
      const calls = Object.fromEntries(
        instruments.redisScriptCalls.cells.map((cell) => [cell.labels.script, cell.value]),
      );
      expect(calls).toEqual({
        decide: 4,
        hit: 0,
        block: 0,
        seed_quota: 0,
        release_slots: 0,
        renew_slots: 0,
      });
    } finally {
      await backend.limiter.close();
      await backend.changeFeed.close();
    }
  });
});
