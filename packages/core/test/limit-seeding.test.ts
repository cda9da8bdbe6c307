import { describe, expect, it } from "vitest";
import type { UsageCounts } from "../src/pipeline/guard-context.js";
import { LimitSeeding } from "../src/pipeline/limit-seeding.js";
import type { Limiter } from "../src/ports/limiter.js";

const DEC_3 = Date.UTC(2026, 11, 3, 12);
const JAN_2 = Date.UTC(2027, 0, 2, 12);

/** A limiter that records its seeds, and store counts that record their queries. */
function harness(options: { failFirstCount?: boolean } = {}) {
  const seeds: { kind: string; quotaId: string; start: number; value: number }[] = [];
  const queries: string[] = [];
  let lost: (() => void) | undefined;
  let failNext = options.failFirstCount ?? false;
  const limiter = {
    seedQuota: async (quotaId: string, start: number, used: number) => {
      seeds.push({ kind: "quota", quotaId, start, value: used });
    },
    seedCredits: async (quotaId: string, start: number, spent: number) => {
      seeds.push({ kind: "credits", quotaId, start, value: spent });
    },
    onStateLost: (listener: () => void) => {
      lost = listener;
      return () => {};
    },
  } as unknown as Limiter;
  const counts: UsageCounts = {
    listQuotaKeyIds: async (quotaId) => {
      queries.push(`keys:${quotaId}`);
      return ["key-old", "key-new"];
    },
    countAllowedRequests: async (keyId) => {
      queries.push(`count:${keyId}`);
      if (failNext) {
        failNext = false;
        throw new Error("database down");
      }
      return keyId === "key-old" ? 40 : 2;
    },
    creditsSpent: async (quotaId, periodStart) => {
      queries.push(`credits:${quotaId}:${periodStart.toISOString()}`);
      return 7;
    },
  };
  const seeding = new LimitSeeding(limiter, counts);
  return { seeding, seeds, queries, loseState: () => lost?.() };
}

describe("LimitSeeding", () => {
  it("seeds a lineage's month once from all of its keys, however many requests ask at once", async () => {
    const { seeding, seeds, queries } = harness();
    expect(seeding.quotaDue("q1", DEC_3)).toBe(true);
    await Promise.all(Array.from({ length: 25 }, () => seeding.seedQuota("q1", "org", DEC_3)));
    expect(seeds).toEqual([
      { kind: "quota", quotaId: "q1", start: Date.UTC(2026, 11, 1), value: 42 },
    ]);
    expect(queries).toEqual(["keys:q1", "count:key-old", "count:key-new"]);
    expect(seeding.quotaDue("q1", DEC_3 + 86_400_000)).toBe(false);
    // A new month is a new count.
    expect(seeding.quotaDue("q1", JAN_2)).toBe(true);
  });

  it("seeds again after the limiter lost its state", async () => {
    const { seeding, seeds, loseState } = harness();
    await seeding.seedQuota("q1", "org", DEC_3);
    loseState();
    expect(seeding.quotaDue("q1", DEC_3)).toBe(true);
    await seeding.seedQuota("q1", "org", DEC_3);
    expect(seeds).toHaveLength(2);
  });

  it("remembers no seed that failed: the next request tries again", async () => {
    const { seeding, seeds } = harness({ failFirstCount: true });
    await expect(seeding.seedQuota("q1", "org", DEC_3)).rejects.toThrow("database down");
    expect(seeding.quotaDue("q1", DEC_3)).toBe(true);
    await seeding.seedQuota("q1", "org", DEC_3);
    expect(seeds.map((seed) => seed.value)).toEqual([42]);
  });

  it("seeds a credit balance from what was spent in its current period", async () => {
    const { seeding, seeds, queries } = harness();
    const terms = {
      granted: 100,
      epochMs: Date.UTC(2026, 10, 15),
      refillAmount: 100,
      refillInterval: "daily" as const,
    };
    expect(seeding.creditsDue("q1", terms, DEC_3)).toBe(true);
    await Promise.all([
      seeding.seedCredits("q1", "org", terms, DEC_3),
      seeding.seedCredits("q1", "org", terms, DEC_3),
    ]);
    const dayStart = Date.UTC(2026, 11, 3);
    expect(seeds).toEqual([{ kind: "credits", quotaId: "q1", start: dayStart, value: 7 }]);
    expect(queries).toEqual([`credits:q1:${new Date(dayStart).toISOString()}`]);
    expect(seeding.creditsDue("q1", terms, DEC_3 + 3_600_000)).toBe(false);
    expect(seeding.creditsDue("q1", terms, DEC_3 + 86_400_000)).toBe(true);
  });

  it("asks nothing of a limiter that keeps no long-lived counts", () => {
    const seeding = new LimitSeeding({} as Limiter, {} as UsageCounts);
    expect(seeding.quotaDue("q1", DEC_3)).toBe(false);
    expect(seeding.creditsDue("q1", { granted: 5, epochMs: 0 }, DEC_3)).toBe(false);
  });
});
