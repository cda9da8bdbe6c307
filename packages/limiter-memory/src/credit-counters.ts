import {
  type CreditSpending,
  checkCredits,
  creditPeriod,
  type LimitPolicy,
  type LimitSubject,
  type WindowDecision,
} from "@keyguard/core/internal";
import { RecentMap } from "./recent-map.js";

/** A lineage's spending, and whether it was seeded from the store (see `#evicted`). */
type CreditEntry = CreditSpending & { seeded?: boolean };

/**
 * The memory limiter's credit counters: what each rotation lineage (`quotaId`) spent in
 * its current balance period. Bounded like the quotas: a seeded counter the LRU evicted is
 * remembered (ids only), so `decide` asks for a new seed instead of counting from zero.
 */
export class CreditCounters {
  readonly #spending: RecentMap<string, CreditEntry>;
  readonly #evicted: RecentMap<string, true>;

  constructor(max: number) {
    this.#evicted = new RecentMap(max);
    this.#spending = new RecentMap(max, (state, quotaId) => {
      if (state.seeded === true) this.#evicted.set(quotaId, true);
    });
  }

  /** The key's lineage's counter; `undefined` when a seeded one was lost (evicted). */
  of(key: LimitSubject): CreditSpending | undefined {
    const quotaId = key.quotaId ?? key.id;
    let state = this.#spending.get(quotaId);
    if (state === undefined) {
      if (this.#evicted.has(quotaId)) return undefined;
      state = { periodStart: Number.NaN, spent: 0 };
      this.#spending.set(quotaId, state);
    }
    return state;
  }

  seed(quotaId: string, periodStartMs: number, spent: number): void {
    this.#evicted.delete(quotaId);
    const state = this.#spending.get(quotaId);
    if (state === undefined || state.periodStart !== periodStartMs) {
      this.#spending.set(quotaId, { periodStart: periodStartMs, spent, seeded: true });
    } else {
      if (state.spent < spent) state.spent = spent;
      state.seeded = true;
    }
  }

  get size(): number {
    return this.#spending.size;
  }

  clear(): void {
    this.#spending.clear();
    this.#evicted.clear();
  }
}

/** Would a request of `cost` fit in the balance of `policy` (a `credits` policy) at `now`? */
export function checkCreditPolicy(
  state: CreditSpending,
  policy: LimitPolicy,
  now: number,
  cost: number,
): WindowDecision {
  return checkCredits(state, creditPeriod(policy.credits ?? NO_TERMS, now), now, cost);
}

/** A policy named `credits` but given no terms: a balance of its `limit`, never refilled. */
const NO_TERMS = { granted: 0, epochMs: 0 };
