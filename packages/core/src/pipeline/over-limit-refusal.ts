import type { ErrorCode } from "../errors/error-codes.js";
import type { LimitPolicy } from "../limits/limit-policy.js";
import type { LimitDecision } from "../ports/limiter.js";

/** How a 429 is worded: its code, its detail, and the policies it names. */
export interface OverLimitRefusal {
  readonly code: Extract<
    ErrorCode,
    "rate_limited" | "quota_exceeded" | "credits_exhausted" | "concurrency_limited"
  >;
  readonly detail: string;
  /** `violated-policies`, as the IETF draft's quota-exceeded problem type has it. */
  readonly violatedPolicies: readonly string[];
}

/**
 * The refusal of a request over one or more of its policies. `retryAfter` is the
 * `Retry-After` value in seconds, when there is a time to retry after (credits without a
 * refill have none: only a top-up helps).
 */
export function overLimitRefusal(
  policies: readonly LimitPolicy[],
  decision: LimitDecision,
  retryAfter: string | undefined,
): OverLimitRefusal {
  const violatedIndexes = decision.violated ?? [];
  const violated = violatedIndexes.map((index) => policies[index] as LimitPolicy);
  const violatedPolicies = violated.map((policy) => policy.name);
  const code =
    decision.refusal === "credits_exhausted" ||
    decision.refusal === "quota_exceeded" ||
    decision.refusal === "concurrency_limited"
      ? decision.refusal
      : "rate_limited";
  let detail: string;
  if (code === "credits_exhausted") {
    const index = violatedIndexes.find((i) => policies[i]?.algorithm === "credits");
    const state = index === undefined ? undefined : decision.policies[index];
    const refill =
      retryAfter === undefined
        ? "Add credits to continue."
        : `They are refilled in ${retryAfter} s, or add credits.`;
    detail = `The key has ${state?.remaining ?? 0} credits left, too few for this request. ${refill}`;
  } else if (code === "concurrency_limited") {
    detail = `Over the limit of ${violated.map(describePolicy).join(" and ")}. Retry when one of them has finished.`;
  } else if (code === "quota_exceeded") {
    const month = violated.find((policy) => policy.algorithm === "calendar-month");
    detail = `The key's monthly quota of ${month?.limit} requests is used up until the 1st of next month (UTC).`;
  } else if (violatedPolicies.length === 1 && violatedPolicies[0] === "minute") {
    detail = `The key allows ${violated[0]?.limit} requests per minute. Retry after ${retryAfter} s.`;
  } else {
    detail = `Over the limit of ${violated.map(describePolicy).join(" and ")}. Retry after ${retryAfter} s.`;
  }
  return { code, detail, violatedPolicies };
}

/** `the key's "burst" (10 per 1 s)`, for a refusal's detail. */
function describePolicy(policy: LimitPolicy): string {
  const owner = policy.scope === "organization" ? "the organization's" : "the key's";
  if (policy.algorithm === "concurrency") {
    return `${owner} "${policy.name}" (${policy.limit} requests in flight at once)`;
  }
  return `${owner} "${policy.name}" (${policy.limit} per ${policy.windowMs / 1000} s)`;
}
