import type { WindowDecision } from "./window-decision.js";

/** The theoretical arrival time of the next request (epoch ms). */
export interface GcraState {
  tat: number;
}

/**
 * The generic cell rate algorithm (a token bucket in one number): requests are spaced
 * `windowMs / limit` apart on average, with bursts of up to `limit`. Smooth, and constant
 * memory per client.
 */
export function gcra(
  state: GcraState,
  now: number,
  limit: number,
  windowMs: number,
): WindowDecision {
  const interval = windowMs / limit;
  const tat = Math.max(state.tat, now);
  const newTat = tat + interval;
  const allowAt = newTat - windowMs;
  if (now < allowAt) {
    return {
      allowed: false,
      limit,
      remaining: 0,
      resetAtMs: Math.ceil(tat),
      retryAfterMs: Math.ceil(allowAt - now),
    };
  }
  state.tat = newTat;
  return {
    allowed: true,
    limit,
    remaining: Math.max(0, Math.floor((windowMs - (newTat - now)) / interval)),
    resetAtMs: Math.ceil(newTat),
    retryAfterMs: 0,
  };
}
