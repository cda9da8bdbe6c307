import type { WindowDecision } from "./window-decision.js";

/** When a key's credits are reset to their refill amount: UTC midnight, or the 1st (UTC). */
export type RefillInterval = "daily" | "monthly";

export const REFILL_INTERVALS: readonly RefillInterval[] = ["daily", "monthly"];

/** Most credits a balance (or a top-up, or a refill) may hold: exact in a double and in Lua. */
export const MAX_CREDITS = Number.MAX_SAFE_INTEGER;

/**
 * A key's prepaid credits as the limiter needs them: `granted` credits from `epochMs` on
 * (when they were set, or the refill boundary a top-up moved them to), and, with a refill,
 * `refillAmount` credits again from each later `refillInterval` boundary.
 */
export interface CreditTerms {
  readonly granted: number;
  readonly epochMs: number;
  readonly refillAmount?: number;
  readonly refillInterval?: RefillInterval;
}

/**
 * The balance period `now` falls in: what its counter is named by (`start`), how many
 * credits it holds (`limit`), and when the next refill replaces it (`end`; `undefined`
 * without a refill: the balance lasts until spent).
 */
export interface CreditPeriod {
  readonly start: number;
  readonly end: number | undefined;
  readonly limit: number;
}

/** The latest refill boundary at or before `now` (UTC midnight, or the 1st 00:00 UTC). */
export function refillBoundaryAtOrBefore(now: number, interval: RefillInterval): number {
  const date = new Date(now);
  return interval === "daily"
    ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())
    : Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** The first refill boundary strictly after `now`. */
export function refillBoundaryAfter(now: number, interval: RefillInterval): number {
  const date = new Date(now);
  return interval === "daily"
    ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1)
    : Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** Each terms object's last answer: nearly every request of a key falls in its period. */
const lastPeriods = new WeakMap<CreditTerms, CreditPeriod>();

/**
 * The period of `terms` that `now` falls in. Computed at decision time, not when the key
 * was loaded: a refill boundary may pass while the key is cached. Before the first
 * boundary after the epoch (or before the epoch itself: another process's clock) it is
 * the epoch's own period with the granted balance; from then on each boundary starts a
 * period of `refillAmount`.
 */
export function creditPeriod(terms: CreditTerms, now: number): CreditPeriod {
  const last = lastPeriods.get(terms);
  if (last !== undefined && now >= last.start && (last.end === undefined || now < last.end)) {
    return last;
  }
  let period: CreditPeriod;
  const interval = terms.refillInterval;
  if (interval === undefined || terms.refillAmount === undefined) {
    period = { start: terms.epochMs, end: undefined, limit: terms.granted };
  } else {
    const first = refillBoundaryAfter(terms.epochMs, interval);
    if (now < first) {
      period = { start: terms.epochMs, end: first, limit: terms.granted };
    } else {
      const start = refillBoundaryAtOrBefore(now, interval);
      period = { start, end: refillBoundaryAfter(start, interval), limit: terms.refillAmount };
    }
  }
  // A time before the epoch (a lagging clock) is answered, never remembered.
  if (now >= terms.epochMs) lastPeriods.set(terms, period);
  return period;
}

/** Credits spent in one period: the limiter's counter. */
export interface CreditSpending {
  /** The period counted (`CreditPeriod.start`); a new period starts from 0. */
  periodStart: number;
  spent: number;
}

/**
 * Would a request of `cost` (cost 0: of 1, spending nothing) fit in the balance? Counts
 * nothing. Without a refill the balance has no reset: `resetAtMs` is `now`, and a refusal
 * has no `retryAfterMs` (0), as only a top-up helps.
 */
export function checkCredits(
  state: CreditSpending,
  period: CreditPeriod,
  now: number,
  cost: number,
): WindowDecision {
  if (state.periodStart !== period.start) {
    state.periodStart = period.start;
    state.spent = 0;
  }
  const { limit } = period;
  const resetAtMs = period.end ?? now;
  if (state.spent + cost <= limit) {
    return {
      allowed: true,
      limit,
      remaining: limit - state.spent - cost,
      resetAtMs,
      retryAfterMs: 0,
    };
  }
  return {
    allowed: false,
    limit,
    remaining: Math.max(0, limit - state.spent),
    resetAtMs,
    retryAfterMs: period.end === undefined ? 0 : period.end - now,
  };
}

/** What is left of a balance after `spent` (never below 0: a lowered grant). */
export function creditsRemaining(period: CreditPeriod, spent: number): number {
  return Math.max(0, period.limit - spent);
}
