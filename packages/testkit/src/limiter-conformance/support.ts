import type { Limiter } from "@keyguard/core";
import {
  keyPolicies,
  type LimitDecision,
  type LimitPolicy,
  type LimitRequest,
  MONTH_POLICY_WINDOW_MS,
  type PolicyState,
  type RateLimitAlgorithm,
} from "@keyguard/core/internal";
import { afterEach } from "vitest";

export const SECOND = 1_000;
export const MINUTE = 60_000;
export const DAY = 86_400_000;
/** A fixed time, passed to every call: the suites' clock. */
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
export const MONTH_END = Date.UTC(2026, 1, 1);
export const ALGORITHMS: RateLimitAlgorithm[] = [
  "sliding-window-log",
  "sliding-window-counter",
  "gcra",
];

export type CreateLimiter = () => Promise<Limiter>;

/** Limiters made by a test, closed after it. */
export function limiterFactory(createLimiter: CreateLimiter): CreateLimiter {
  const open: Limiter[] = [];
  afterEach(async () => {
    for (const limiter of open.splice(0)) await limiter.close();
  });
  return async () => {
    const limiter = await createLimiter();
    open.push(limiter);
    return limiter;
  };
}

/** A key's window. */
export function window(
  name: string,
  limit: number,
  windowMs: number,
  algorithm: RateLimitAlgorithm = "sliding-window-log",
  options: { mode?: "enforce" | "shadow"; scope?: "key" | "organization" } = {},
): LimitPolicy {
  return {
    name,
    limit,
    windowMs,
    algorithm,
    mode: options.mode ?? "enforce",
    scope: options.scope ?? "key",
  };
}

/** An organization's window (named `org.<name>`, as keys' policies name them). */
export function orgWindow(
  name: string,
  limit: number,
  windowMs: number,
  algorithm: RateLimitAlgorithm = "sliding-window-log",
): LimitPolicy {
  return window(`org.${name}`, limit, windowMs, algorithm, { scope: "organization" });
}

/** The calendar-month quota. */
export function month(limit: number): LimitPolicy {
  return {
    name: "month",
    limit,
    windowMs: MONTH_POLICY_WINDOW_MS,
    algorithm: "calendar-month",
    mode: "enforce",
    scope: "quota",
  };
}

/** keyguard-python's two settings as policies (`minute`, and `month` unless null). */
export function seedPolicies(
  rate: number,
  algorithm: RateLimitAlgorithm,
  monthly: number | null = null,
): LimitPolicy[] {
  return keyPolicies({ rateLimitPerMinute: rate, monthlyLimit: monthly }, algorithm);
}

export interface KeyRequestOptions {
  readonly orgId?: string;
  readonly quotaId?: string;
  readonly cost?: number;
  readonly client?: string;
  readonly path?: string;
}

export function keyRequest(
  keyId: string,
  now: number,
  policies: readonly LimitPolicy[],
  options: KeyRequestOptions = {},
): LimitRequest {
  return {
    now,
    client: options.client ?? "203.0.113.7",
    path: options.path ?? "/api/data",
    key: { id: keyId, quotaId: options.quotaId, orgId: options.orgId },
    policies,
    cost: options.cost,
  };
}

/** A decision's figures for the policy named `name` of `policies`. */
export function stateOf(
  decision: LimitDecision,
  policies: readonly LimitPolicy[],
  name: string,
): PolicyState | undefined {
  return decision.policies[policies.findIndex((policy) => policy.name === name)];
}

/** The names of the policies a decision lists as violated. */
export function violatedNames(decision: LimitDecision, policies: readonly LimitPolicy[]): string[] {
  return (decision.violated ?? []).map((index) => (policies[index] as LimitPolicy).name);
}
