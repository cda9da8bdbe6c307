import type { ApiKeyInfo } from "../domain/api-key.js";
import type { CreditBalance } from "../domain/key-credits.js";
import type { Limiter, PolicyState } from "../ports/limiter.js";
import type { Store } from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import { type CreditTerms, creditPeriod, creditsRemaining } from "./credit-balance.js";
import {
  keyPolicies,
  type LimitPolicy,
  type PolicyMode,
  type PolicyScope,
} from "./limit-policy.js";
import { calendarMonth } from "./monthly-quota.js";
import type { RateLimitAlgorithm } from "./window-decision.js";

/** Where one of a key's policies stands now (`KeyGuard.limitStatus`). */
export interface PolicyStatus {
  /** The policy's name as the RateLimit fields give it (`minute`, `org.day`, `month`, ...). */
  readonly name: string;
  readonly scope: PolicyScope;
  readonly mode: PolicyMode;
  /** Requests (or credits) the policy allows per window, or requests in flight at once. */
  readonly limit: number;
  /** The window in seconds; 0 for concurrency and for credits without a refill. */
  readonly windowSeconds: number;
  /**
   * What is left right now, without spending anything. `null` where this process cannot
   * tell: a window or concurrency cap when it has no limiter (the CLI) or the limiter
   * failed, and always a concurrency cap (slots are not counted outside a decision).
   */
  readonly remaining: number | null;
  /** When the policy is fully available again (a window) or resets (month, refill). */
  readonly resetsAt: Date | null;
}

/** The store reads the live figures fall back on. */
type UsageReads = Pick<Store, "listQuotaKeyIds" | "countAllowedRequests" | "creditsSpent">;

export interface LiveLimitsOptions {
  readonly limiter: Limiter | undefined;
  readonly store: UsageReads;
  readonly clock: Clock;
  /**
   * The algorithm of this process's guards, for the policies that do not name their own
   * (`minute`, windows without `algorithm`). Counters are kept per algorithm, so asking
   * with another one would read (on the memory limiter, restart) a different counter.
   */
  readonly algorithm: () => RateLimitAlgorithm;
}

/**
 * What is left of a key's limits, read without spending: one decision of cost 0 over its
 * windows, month and credits (not its concurrency caps, which a decision would occupy).
 * The month and the credits count at least what the store recorded, so a process whose
 * limiter has not seen the key (an admin-only server with the memory limiter) still
 * answers from the usage written so far.
 */
export class LiveLimits {
  readonly #options: LiveLimitsOptions;

  constructor(options: LiveLimitsOptions) {
    this.#options = options;
  }

  /** Every policy of the key, in the order its responses list them. */
  async of(key: ApiKeyInfo): Promise<PolicyStatus[]> {
    const now = this.#options.clock.now();
    const policies = keyPolicies(key, this.#options.algorithm());
    const counted = policies.filter((policy) => policy.algorithm !== "concurrency");
    const live = await this.#decide(key, counted, now);
    const statuses: PolicyStatus[] = [];
    for (const policy of policies) {
      const index = counted.indexOf(policy);
      const state = index < 0 ? undefined : live?.[index];
      statuses.push(await this.#status(key, policy, state, now));
    }
    return statuses;
  }

  /**
   * Where the key's credits stand: the current balance period's credits and what is left
   * of them, the larger spending of the store's and the limiter's. `undefined` for a key
   * without credits.
   */
  async creditBalance(key: ApiKeyInfo): Promise<CreditBalance | undefined> {
    const policies = keyPolicies(key, this.#options.algorithm());
    const policy = policies.find((candidate) => candidate.algorithm === "credits");
    if (policy === undefined) return undefined;
    const now = this.#options.clock.now();
    const live = await this.#decide(key, [policy], now);
    return this.#credits(key, policy, live?.[0], now);
  }

  async #status(
    key: ApiKeyInfo,
    policy: LimitPolicy,
    state: PolicyState | undefined,
    now: number,
  ): Promise<PolicyStatus> {
    const base = {
      name: policy.name,
      scope: policy.scope,
      mode: policy.mode,
      limit: policy.limit,
      windowSeconds: Math.round(policy.windowMs / 1000),
    };
    if (policy.algorithm === "credits") {
      const balance = await this.#credits(key, policy, state, now);
      return {
        ...base,
        limit: balance.periodCredits,
        remaining: balance.remaining,
        resetsAt: balance.refillsAt,
      };
    }
    if (policy.algorithm === "calendar-month") {
      const month = calendarMonth(now);
      const since = new Date(month.start);
      const store = this.#options.store;
      const keyIds = await store.listQuotaKeyIds(key.quotaId, since);
      if (!keyIds.includes(key.id)) keyIds.push(key.id);
      const counts = await Promise.all(keyIds.map((id) => store.countAllowedRequests(id, since)));
      const stored = Math.max(0, policy.limit - counts.reduce((sum, count) => sum + count, 0));
      return {
        ...base,
        remaining: Math.min(stored, state?.remaining ?? stored),
        resetsAt: new Date(month.end),
      };
    }
    if (state === undefined) return { ...base, remaining: null, resetsAt: null };
    return { ...base, remaining: state.remaining, resetsAt: new Date(state.resetAtMs) };
  }

  async #credits(
    key: ApiKeyInfo,
    policy: LimitPolicy,
    state: PolicyState | undefined,
    now: number,
  ): Promise<CreditBalance> {
    const period = creditPeriod(policy.credits as CreditTerms, now);
    const stored =
      (await this.#options.store.creditsSpent?.(key.quotaId, new Date(period.start))) ?? 0;
    const spent = state === undefined ? stored : Math.max(stored, period.limit - state.remaining);
    return {
      remaining: creditsRemaining(period, spent),
      periodCredits: period.limit,
      periodStart: new Date(period.start),
      refillsAt: period.end === undefined ? null : new Date(period.end),
    };
  }

  /** The limiter's figures for `policies` at cost 0; `undefined` without one or when it fails. */
  async #decide(
    key: ApiKeyInfo,
    policies: readonly LimitPolicy[],
    now: number,
  ): Promise<readonly PolicyState[] | undefined> {
    const limiter = this.#options.limiter;
    if (limiter === undefined || policies.length === 0) return undefined;
    try {
      const decision = await limiter.decide({
        now,
        client: "",
        path: "",
        key: { id: key.id, quotaId: key.quotaId, orgId: key.orgId },
        policies,
        cost: 0,
      });
      return decision.policies;
    } catch {
      // The store's figures stand (the limiter is down, or lost a count it must seed).
      return undefined;
    }
  }
}
