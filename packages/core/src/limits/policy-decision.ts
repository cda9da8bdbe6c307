import type { LimitDecision, PolicyState } from "../ports/limiter.js";
import type { LimitPolicy } from "./limit-policy.js";

/**
 * A limiter's answer from its policies' figures, the same for every backend: refused when
 * some enforced policy refused (`violated`), with `retryAfterMs` = when the last of them
 * allows again and its figures; allowed otherwise, with the figures of the enforced policy
 * closest to refusing (fewest remaining; the first of equals) for the legacy headers.
 * `credits_exhausted` when the credits are among the violated (only a top-up or a refill
 * helps), else `quota_exceeded` when the month is (it lasts longest), else `rate_limited`.
 */
export function policyDecision(
  policies: readonly LimitPolicy[],
  states: readonly PolicyState[],
  violated: readonly number[] | undefined,
  shadowRefused: readonly number[] | undefined,
): LimitDecision {
  if (violated !== undefined && violated.length > 0) {
    let last = states[violated[0] as number] as PolicyState;
    let refusal: "rate_limited" | "quota_exceeded" | "credits_exhausted" = "rate_limited";
    for (const index of violated) {
      const state = states[index] as PolicyState;
      if (state.retryAfterMs > last.retryAfterMs) last = state;
      const algorithm = (policies[index] as LimitPolicy).algorithm;
      if (algorithm === "credits") refusal = "credits_exhausted";
      else if (algorithm === "calendar-month" && refusal === "rate_limited") {
        refusal = "quota_exceeded";
      }
    }
    return {
      allowed: false,
      refusal,
      limit: last.limit,
      remaining: last.remaining,
      resetAtMs: last.resetAtMs,
      retryAfterMs: last.retryAfterMs,
      policies: states,
      violated,
      shadowRefused: undefined,
      block: undefined,
    };
  }
  let closest: PolicyState | undefined;
  for (let i = 0; i < states.length; i++) {
    const state = states[i] as PolicyState;
    if ((policies[i] as LimitPolicy).mode !== "enforce") continue;
    if (closest === undefined || state.remaining < closest.remaining) closest = state;
  }
  return {
    allowed: true,
    refusal: undefined,
    limit: closest?.limit ?? 0,
    remaining: closest?.remaining ?? 0,
    resetAtMs: closest?.resetAtMs ?? 0,
    retryAfterMs: 0,
    policies: states,
    violated: undefined,
    shadowRefused,
    block: undefined,
  };
}
