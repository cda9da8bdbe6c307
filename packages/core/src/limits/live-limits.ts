import type { ApiKeyInfo } from "../domain/api-key.js";
import type { CreditBalance } from "../domain/key-credits.js";
import { isQuotaSeedLost } from "../errors/quota-seed-lost.js";
import type { Limiter, PolicyState } from "../ports/limiter.js";
import {
  type LineageUsageReads,
  lineageCreditsSince,
  lineageRequestsSince,
} from "../usage/lineage-usage.js";
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
   * tell: a window when it has no limiter (the CLI) or the limiter failed, and always a
   * concurrency cap (slots are not counted outside a decision).
   */
  readonly remaining: number | null;
  /**
   * When more is allowed again, as the RateLimit field `t` counts it: a window's reset
   * (the sliding-window log's oldest request leaving the window, the counter's window
   * end, GCRA's full bucket), the month's end, the credits' next refill.
   */
  readonly resetsAt: Date | null;
}

/** Every policy's live figures, and the credit balance among them (one read of both). */
export interface KeyLimitStatus {
  readonly policies: PolicyStatus[];
  /** The key's credits as `creditBalance` tells them; `undefined` without credits. */
  readonly credits: CreditBalance | undefined;
}

export interface LiveLimitsOptions {
  readonly limiter: Limiter | undefined;
  readonly store: LineageUsageReads;
  readonly clock: Clock;
  /**
   * The configured algorithm, for the policies that name none (`minute`, windows without
   * `algorithm`): counters are kept per algorithm, and the guards count with this one
   * unless told otherwise.
   */
  readonly algorithm: RateLimitAlgorithm;
  /** A limiter failure while reading (the figures then fall back): reported, not thrown. */
  readonly reportError: (error: unknown) => void;
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
  async of(key: ApiKeyInfo): Promise<KeyLimitStatus> {
    const now = this.#options.clock.now();
    const policies = keyPolicies(key, this.#options.algorithm);
    const counted = policies.filter((policy) => policy.algorithm !== "concurrency");
    const live = await this.#decide(key, counted, now);
    const statuses: PolicyStatus[] = [];
    let credits: CreditBalance | undefined;
    for (const policy of policies) {
      const index = counted.indexOf(policy);
      const state = index < 0 ? undefined : live?.[index];
      if (policy.algorithm === "credits") {
        credits = await this.#credits(key, policy, state, now);
        statuses.push({
          ...describe(policy),
          limit: credits.periodCredits,
          remaining: credits.remaining,
          resetsAt: credits.refillsAt,
        });
      } else {
        statuses.push(await this.#status(key, policy, state, now));
      }
    }
    return { policies: statuses, credits };
  }

  /**
   * Where the key's credits stand: the current balance period's credits and what is left
   * of them, the larger spending of the store's and the limiter's. `undefined` for a key
   * without credits.
   */
  async creditBalance(key: ApiKeyInfo): Promise<CreditBalance | undefined> {
    const policies = keyPolicies(key, this.#options.algorithm);
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
    if (policy.algorithm === "calendar-month") {
      const month = calendarMonth(now);
      const used = await lineageRequestsSince(
        this.#options.store,
        key.quotaId,
        new Date(month.start),
      );
      const stored = Math.max(0, policy.limit - used);
      return {
        ...describe(policy),
        remaining: Math.min(stored, state?.remaining ?? stored),
        resetsAt: new Date(month.end),
      };
    }
    if (state === undefined) return { ...describe(policy), remaining: null, resetsAt: null };
    return { ...describe(policy), remaining: state.remaining, resetsAt: new Date(state.resetAtMs) };
  }

  async #credits(
    key: ApiKeyInfo,
    policy: LimitPolicy,
    state: PolicyState | undefined,
    now: number,
  ): Promise<CreditBalance> {
    const period = creditPeriod(policy.credits as CreditTerms, now);
    const stored = await lineageCreditsSince(
      this.#options.store,
      key.quotaId,
      new Date(period.start),
    );
    const spent = state === undefined ? stored : Math.max(stored, period.limit - state.remaining);
    return {
      remaining: creditsRemaining(period, spent),
      periodCredits: period.limit,
      periodStart: new Date(period.start),
      refillsAt: period.end === undefined ? null : new Date(period.end),
    };
  }

  /**
   * The limiter's figures for `policies` at cost 0 (`undefined` entries where it has none).
   * A count the limiter lost and must be seeded again (the month, credits: Redis lost its
   * data) makes it refuse the whole decision; the windows are then read alone, and the
   * month and credits come from the store until the key's next request seeds them.
   */
  async #decide(
    key: ApiKeyInfo,
    policies: readonly LimitPolicy[],
    now: number,
  ): Promise<readonly (PolicyState | undefined)[] | undefined> {
    const limiter = this.#options.limiter;
    if (limiter === undefined || policies.length === 0) return undefined;
    const decide = async (asked: readonly LimitPolicy[]) =>
      (
        await limiter.decide({
          now,
          client: "",
          path: "",
          key: { id: key.id, quotaId: key.quotaId, orgId: key.orgId },
          policies: asked,
          cost: 0,
        })
      ).policies;
    try {
      return await decide(policies);
    } catch (error) {
      if (!isQuotaSeedLost(error)) {
        this.#options.reportError(error);
        return undefined;
      }
    }
    const windows = policies.filter(
      (policy) => policy.algorithm !== "calendar-month" && policy.algorithm !== "credits",
    );
    if (windows.length === 0) return undefined;
    try {
      const states = await decide(windows);
      return policies.map((policy) => {
        const index = windows.indexOf(policy);
        return index < 0 ? undefined : states[index];
      });
    } catch (error) {
      if (!isQuotaSeedLost(error)) this.#options.reportError(error);
      return undefined;
    }
  }
}

/** A policy's settings as its status gives them. */
function describe(policy: LimitPolicy) {
  return {
    name: policy.name,
    scope: policy.scope,
    mode: policy.mode,
    limit: policy.limit,
    windowSeconds: Math.round(policy.windowMs / 1000),
  };
}
