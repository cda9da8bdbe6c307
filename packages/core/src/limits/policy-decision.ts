import type { LimitDecision, PolicyState } from "../ports/limiter.js";
import type { LimitPolicy } from "./limit-policy.js";

/**
 * A limiter's answer from its policies' figures, the same for every backend: refused when
 * some enforced policy refused (`violated`), with `retryAfterMs` = when the last of them
 * allows again and its figures; allowed otherwise, with the figures of the enforced policy
 * closest to refusing (fewest remaining; the first of equals) for the legacy headers.
 * `credits_exhausted` when the credits are among the violated (only a top-up or a refill
 * helps), else `quota_exceeded` when the month is (it lasts longest), else `rate_limited`;
 * `concurrency_limited` when only concurrency caps refused (a window that also refused
 * says more: it is what the client must wait for). Concurrency caps describe no window,
 * so they give the legacy headers their figures only when refusing alone.
 */
export function policyDecision(
  policies: readonly LimitPolicy[],
  states: readonly PolicyState[],
  violated: readonly number[] | undefined,
  shadowRefused: readonly number[] | undefined,
): LimitDecision {
  if (violated !== undefined && violated.length > 0) {
    let last: PolicyState | undefined;
    let refusal: "rate_limited" | "quota_exceeded" | "credits_exhausted" | "concurrency_limited" =
      "rate_limited";
    for (const index of violated) {
      const state = states[index] as PolicyState;
      const algorithm = (policies[index] as LimitPolicy).algorithm;
      if (algorithm === "concurrency") continue;
      if (last === undefined || state.retryAfterMs > last.retryAfterMs) last = state;
      if (algorithm === "credits") refusal = "credits_exhausted";
      else if (algorithm === "calendar-month" && refusal === "rate_limited") {
        refusal = "quota_exceeded";
      }
    }
    if (last === undefined) {
      refusal = "concurrency_limited";
      last = states[violated[0] as number] as PolicyState;
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
    const policy = policies[i] as LimitPolicy;
    if (policy.mode !== "enforce" || policy.algorithm === "concurrency") continue;
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
