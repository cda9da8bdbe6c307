import { creditTerms, type KeyCredits } from "../domain/key-credits.js";
import type { CreditTerms } from "./credit-balance.js";
import type { RateLimitAlgorithm } from "./window-decision.js";

/**
 * How a policy counts: one of the three window algorithms, the calendar month (UTC) of
 * a monthly quota (`windowMs` then only describes it, as 30 days), `concurrency`:
 * requests in flight at once, a slot taken when a request is allowed and given back when
 * its response is over (`windowMs` 0: no window), or a balance of prepaid credits
 * (`credits`: its `terms` say which period `now` falls in).
 */
export type PolicyAlgorithm = RateLimitAlgorithm | "calendar-month" | "concurrency" | "credits";

/** `enforce` refuses over the limit; `shadow` never refuses, only reports (see `shadowRefused`). */
export type PolicyMode = "enforce" | "shadow";

/**
 * Whose counter a policy spends: the key's own, the monthly quota of its rotation lineage
 * (`quotaId`), or its organization's, shared by all of the organization's keys.
 */
export type PolicyScope = "key" | "quota" | "organization";

/** One named limit a request is decided against. */
export interface LimitPolicy {
  /** Unique within a request: the name the RateLimit fields and `violated-policies` use. */
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly algorithm: PolicyAlgorithm;
  readonly mode: PolicyMode;
  readonly scope: PolicyScope;
  /**
   * Only for algorithm `credits`: the balance's terms (`limit` is then the grant of the
   * epoch's period, `windowMs` the refill interval, 0 without one).
   */
  readonly credits?: CreditTerms;
}

/**
 * A named window as a key or an organization stores it (`limits`), before it becomes a
 * {@link LimitPolicy}: the admin API's `{ name, limit, window_seconds, algorithm?, mode? }`.
 */
export interface LimitSpec {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
  /** Default: the guard's algorithm (keyguard-python's sliding-window log unless configured). */
  readonly algorithm?: RateLimitAlgorithm;
  /** Default `enforce`. */
  readonly mode?: PolicyMode;
}

/**
 * A cap on requests in flight at once, as a key or an organization stores it
 * (`concurrency`): the policy `concurrency` (a key's) or `org.concurrency`.
 */
export interface ConcurrencySpec {
  /** Requests in flight at once, `MIN_CONCURRENCY` to `MAX_CONCURRENCY`. */
  readonly limit: number;
  /** Default `enforce`; `shadow` never refuses, only counts would-be refusals. */
  readonly mode?: PolicyMode;
}

/** The name of a key's concurrency policy (`org.concurrency` for its organization's). */
export const CONCURRENCY_POLICY_NAME = "concurrency";
export const MIN_CONCURRENCY = 1;
/** Past this a cap is no cap worth its bookkeeping (each slot is a member of a Redis set). */
export const MAX_CONCURRENCY = 10_000;

/** Most named windows a key (or an organization) may have. */
export const MAX_LIMITS = 10;
export const MIN_WINDOW_SECONDS = 1;
/** 31 days: the longest calendar month. */
export const MAX_WINDOW_SECONDS = 31 * 86_400;
/** What a window's name may be: it becomes an HTTP header item and a Redis key part. */
export const POLICY_NAME_PATTERN = /^[a-z0-9_-]{1,32}$/;
/**
 * Names a key's own `limits` may not take: `minute` is `rateLimitPerMinute`'s, `month`
 * the monthly quota's, `concurrency` the concurrency cap's, `credits` the prepaid credits'.
 */
export const RESERVED_POLICY_NAMES: readonly string[] = [
  "minute",
  "month",
  CONCURRENCY_POLICY_NAME,
  "credits",
];
/**
 * An organization's windows are named `org.<name>` in answers, so they can never clash
 * with a key's (a key's names cannot hold a dot).
 */
export const ORGANIZATION_POLICY_PREFIX = "org.";

const MINUTE_MS = 60_000;
/** The month as the RateLimit fields describe it (`w=2592000`): 30 days. */
export const MONTH_POLICY_WINDOW_MS = 30 * 86_400_000;

/** The key's settings its policies come from (`ApiKeyInfo` has them). */
export interface PolicySource {
  readonly rateLimitPerMinute: number;
  readonly monthlyLimit: number | null;
  readonly limits?: readonly LimitSpec[];
  readonly organizationLimits?: readonly LimitSpec[];
  readonly concurrency?: ConcurrencySpec | null;
  readonly organizationConcurrency?: ConcurrencySpec | null;
  readonly credits?: KeyCredits | null;
}

/**
 * A key's policies, in the order answers list them: `minute` (keyguard-python's per-minute
 * limit), the key's named windows, its organization's (`org.<name>`), its concurrency
 * caps (`concurrency`, `org.concurrency`), `month` (the calendar-month quota) and
 * `credits` (its prepaid balance) when it has them. Built once per cached key, not per
 * request.
 */
export function keyPolicies(key: PolicySource, algorithm: RateLimitAlgorithm): LimitPolicy[] {
  const policies: LimitPolicy[] = [
    {
      name: "minute",
      limit: key.rateLimitPerMinute,
      windowMs: MINUTE_MS,
      algorithm,
      mode: "enforce",
      scope: "key",
    },
  ];
  for (const spec of key.limits ?? []) policies.push(fromSpec(spec, "", "key", algorithm));
  for (const spec of key.organizationLimits ?? []) {
    policies.push(fromSpec(spec, ORGANIZATION_POLICY_PREFIX, "organization", algorithm));
  }
  if (key.concurrency != null) {
    policies.push(concurrencyPolicy(key.concurrency, "", "key"));
  }
  if (key.organizationConcurrency != null) {
    policies.push(
      concurrencyPolicy(key.organizationConcurrency, ORGANIZATION_POLICY_PREFIX, "organization"),
    );
  }
  if (key.monthlyLimit !== null) {
    policies.push({
      name: "month",
      limit: key.monthlyLimit,
      windowMs: MONTH_POLICY_WINDOW_MS,
      algorithm: "calendar-month",
      mode: "enforce",
      scope: "quota",
    });
  }
  if (key.credits !== undefined && key.credits !== null) {
    policies.push(creditsPolicy(key.credits));
  }
  return policies;
}

function concurrencyPolicy(spec: ConcurrencySpec, prefix: string, scope: PolicyScope): LimitPolicy {
  return {
    name: prefix + CONCURRENCY_POLICY_NAME,
    limit: spec.limit,
    windowMs: 0,
    algorithm: "concurrency",
    mode: spec.mode ?? "enforce",
    scope,
  };
}

function fromSpec(
  spec: LimitSpec,
  prefix: string,
  scope: PolicyScope,
  algorithm: RateLimitAlgorithm,
): LimitPolicy {
  return {
    name: prefix + spec.name,
    limit: spec.limit,
    windowMs: spec.windowSeconds * 1000,
    algorithm: spec.algorithm ?? algorithm,
    mode: spec.mode ?? "enforce",
    scope,
  };
}

/** Whether two policy lists decide alike (the same list, or equal field by field). */
export function samePolicies(a: readonly LimitPolicy[], b: readonly LimitPolicy[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as LimitPolicy;
    const y = b[i] as LimitPolicy;
    if (
      x.name !== y.name ||
      x.limit !== y.limit ||
      x.windowMs !== y.windowMs ||
      x.algorithm !== y.algorithm ||
      x.mode !== y.mode ||
      x.scope !== y.scope ||
      !sameTerms(x.credits, y.credits)
    ) {
      return false;
    }
  }
  return true;
}

/**
 * The policy `credits` of a key's balance: spent per rotation lineage (`quota` scope, like
 * the month), so a rotation keeps the balance.
 */
export function creditsPolicy(credits: KeyCredits): LimitPolicy {
  const terms = creditTerms(credits);
  return {
    name: CREDITS_POLICY_NAME,
    limit: terms.granted,
    windowMs:
      terms.refillInterval === undefined
        ? 0
        : terms.refillInterval === "daily"
          ? 86_400_000
          : MONTH_POLICY_WINDOW_MS,
    algorithm: "credits",
    mode: "enforce",
    scope: "quota",
    credits: terms,
  };
}

export const CREDITS_POLICY_NAME = "credits";

function sameTerms(a: CreditTerms | undefined, b: CreditTerms | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return (
    a.granted === b.granted &&
    a.epochMs === b.epochMs &&
    a.refillAmount === b.refillAmount &&
    a.refillInterval === b.refillInterval
  );
}
