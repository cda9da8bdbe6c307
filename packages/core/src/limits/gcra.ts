import type { WindowDecision } from "./window-decision.js";

/** The theoretical arrival time of the next request (epoch ms). */
export interface GcraState {
  tat: number;
}

/**
 * The generic cell rate algorithm (a token bucket in one number): requests are spaced
 * `windowMs / limit` apart on average, with bursts of up to `limit`. Smooth, and constant
 * memory per client. A request of cost `c` takes `c` spacings.
 */
export function gcra(
  state: GcraState,
  now: number,
  limit: number,
  windowMs: number,
  cost = 1,
): WindowDecision {
  const decision = checkGcra(state, now, limit, windowMs, cost);
  if (decision.allowed) chargeGcra(state, now, limit, windowMs, cost);
  return decision;
}

/** Would a request of `cost` pass now? Changes nothing. */
export function checkGcra(
  state: GcraState,
  now: number,
  limit: number,
  windowMs: number,
  cost: number,
): WindowDecision {
  const interval = windowMs / limit;
  const tat = Math.max(state.tat, now);
  const newTat = tat + cost * interval;
  const allowAt = newTat - windowMs;
  if (now < allowAt) {
    return {
      allowed: false,
      limit,
      remaining: Math.max(0, Math.floor((windowMs - (tat - now)) / interval)),
      resetAtMs: Math.ceil(tat),
      retryAfterMs: Math.ceil(allowAt - now),
    };
  }
  return {
    allowed: true,
    limit,
    remaining: Math.max(0, Math.floor((windowMs - (newTat - now)) / interval)),
    resetAtMs: Math.ceil(newTat),
    retryAfterMs: 0,
  };
}

/** Counts a request of `cost` that {@link checkGcra} allowed. */
export function chargeGcra(
  state: GcraState,
  now: number,
  limit: number,
  windowMs: number,
  cost: number,
): void {
  state.tat = Math.max(state.tat, now) + cost * (windowMs / limit);
}
