import type { WindowDecision } from "./window-decision.js";

/** Requests counted in one calendar month (UTC). */
export interface MonthlyQuotaState {
  /** Start of the month being counted (epoch ms). */
  monthStart: number;
  used: number;
}

/** A UTC calendar month: its first millisecond and the next month's (epoch ms). */
export interface CalendarMonth {
  readonly start: number;
  readonly end: number;
}

/** The month last asked for: nearly every call on a request's path falls in it. */
let lastMonth: CalendarMonth = { start: 0, end: 0 };

/**
 * Start of the UTC calendar month containing `now`, and of the next one. Every request with
 * a quota asks; the answer is shared until the month ends instead of built from a `Date`
 * each time (treat it as read-only).
 */
export function calendarMonth(now: number): CalendarMonth {
  const last = lastMonth;
  if (now >= last.start && now < last.end) return last;
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const computed = { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
  lastMonth = computed;
  return computed;
}

/**
 * A key's monthly quota: `limit` requests per calendar month, UTC; resets on the 1st. A
 * request of cost `c` counts as `c` requests.
 */
export function monthlyQuota(
  state: MonthlyQuotaState,
  now: number,
  limit: number,
  cost = 1,
): WindowDecision {
  const decision = checkMonthlyQuota(state, now, limit, cost);
  if (decision.allowed) state.used += cost;
  return decision;
}

/** Would a request of `cost` fit in this month's quota? Counts nothing. */
export function checkMonthlyQuota(
  state: MonthlyQuotaState,
  now: number,
  limit: number,
  cost: number,
): WindowDecision {
  const { start, end } = calendarMonth(now);
  if (state.monthStart !== start) {
    state.monthStart = start;
    state.used = 0;
  }
  if (state.used + cost <= limit) {
    return {
      allowed: true,
      limit,
      remaining: limit - state.used - cost,
      resetAtMs: end,
      retryAfterMs: 0,
    };
  }
  return {
    allowed: false,
    limit,
    remaining: Math.max(0, limit - state.used),
    resetAtMs: end,
    retryAfterMs: end - now,
  };
}

/**
 * The quota as it stands at `now`, counting nothing: what a request refused for another
 * reason (its rate limit) reports, since a refused request consumes nothing.
 */
export function peekMonthlyQuota(
  state: MonthlyQuotaState,
  now: number,
  limit: number,
): WindowDecision {
  const { start, end } = calendarMonth(now);
  const remaining = Math.max(0, limit - (state.monthStart === start ? state.used : 0));
  if (remaining > 0) return { allowed: true, limit, remaining, resetAtMs: end, retryAfterMs: 0 };
  return { allowed: false, limit, remaining: 0, resetAtMs: end, retryAfterMs: end - now };
}

/** True when the quota is used up for the month of `now` (does not count a request). */
export function isQuotaExhausted(state: MonthlyQuotaState, now: number, limit: number): boolean {
  return state.monthStart === calendarMonth(now).start && state.used >= limit;
}
