import { describe, expect, it } from "vitest";
import type { LimitPolicy } from "../src/limits/limit-policy.js";
import { overLimitRefusal } from "../src/pipeline/over-limit-refusal.js";
import type { LimitDecision } from "../src/ports/limiter.js";

function policy(overrides: Partial<LimitPolicy> & { name: string }): LimitPolicy {
  return {
    limit: 10,
    windowMs: 1_000,
    algorithm: "sliding-window-log",
    mode: "enforce",
    scope: "key",
    ...overrides,
  };
}

function refusedBy(
  violated: number[],
  refusal?: LimitDecision["refusal"],
  remaining: number[] = [],
): LimitDecision {
  return {
    allowed: false,
    limit: 0,
    remaining: 0,
    resetAtMs: 0,
    retryAfterMs: 1_000,
    violated,
    ...(refusal === undefined ? {} : { refusal }),
    policies: remaining.map((left) => ({
      allowed: left > 0,
      limit: 10,
      remaining: left,
      resetAtMs: 0,
      retryAfterMs: 0,
    })),
  };
}

describe("overLimitRefusal", () => {
  const minute = policy({ name: "minute", limit: 60, windowMs: 60_000 });
  const burst = policy({ name: "burst", limit: 10, windowMs: 1_000 });
  const orgDay = policy({
    name: "org.day",
    limit: 1_000,
    windowMs: 86_400_000,
    scope: "organization",
  });

  it("words keyguard-python's per-minute refusal as keyguard-python did", () => {
    expect(overLimitRefusal([minute, burst], refusedBy([0]), "12")).toEqual({
      code: "rate_limited",
      detail: "The key allows 60 requests per minute. Retry after 12 s.",
      violatedPolicies: ["minute"],
    });
  });

  it("names every violated window, the organization's as the organization's", () => {
    expect(overLimitRefusal([minute, burst, orgDay], refusedBy([1, 2]), "3")).toEqual({
      code: "rate_limited",
      detail:
        'Over the limit of the key\'s "burst" (10 per 1 s) and the organization\'s "org.day" (1000 per 86400 s). Retry after 3 s.',
      violatedPolicies: ["burst", "org.day"],
    });
  });

  it("tells credits apart: what is left, and whether a refill comes", () => {
    const credits = policy({ name: "credits", algorithm: "credits", limit: 100, windowMs: 0 });
    const refused = refusedBy([1], "credits_exhausted", [50, 3]);
    expect(overLimitRefusal([minute, credits], refused, undefined).detail).toBe(
      "The key has 3 credits left, too few for this request. Add credits to continue.",
    );
    expect(overLimitRefusal([minute, credits], refused, "600").detail).toBe(
      "The key has 3 credits left, too few for this request. They are refilled in 600 s, or add credits.",
    );
    expect(overLimitRefusal([minute, credits], refused, "600").code).toBe("credits_exhausted");
  });

  it("words a monthly quota and a concurrency cap", () => {
    const month = policy({ name: "month", algorithm: "calendar-month", limit: 5_000 });
    expect(overLimitRefusal([month], refusedBy([0], "quota_exceeded"), "9").detail).toBe(
      "The key's monthly quota of 5000 requests is used up until the 1st of next month (UTC).",
    );
    const cap = policy({ name: "concurrency", algorithm: "concurrency", limit: 2, windowMs: 0 });
    expect(overLimitRefusal([cap], refusedBy([0], "concurrency_limited"), "1")).toEqual({
      code: "concurrency_limited",
      detail:
        'Over the limit of the key\'s "concurrency" (2 requests in flight at once). Retry when one of them has finished.',
      violatedPolicies: ["concurrency"],
    });
  });
});
