import type { WindowDecision } from "./window-decision.js";

/** The times of the requests counted in the current window, oldest first. */
export interface SlidingWindowLogState {
  hits: number[];
}

/**
 * The seed's algorithm: remember each allowed request's time; a request is allowed when
 * fewer than `limit` remembered requests are younger than `windowMs`. Exact, and memory
 * grows with the limit (one number per allowed request in the window). Refused requests
 * are not remembered, so a client that keeps hammering is let in again as soon as its
 * oldest request leaves the window.
 *
 * Mutates `state` in place (the memory backend keeps it); time comes only from `now`.
 */
export function slidingWindowLog(
  state: SlidingWindowLogState,
  now: number,
  limit: number,
  windowMs: number,
): WindowDecision {
  const hits = state.hits;
  const horizon = now - windowMs;
  let expired = 0;
  while (expired < hits.length && (hits[expired] as number) <= horizon) expired++;
  if (expired > 0) hits.splice(0, expired);
  if (hits.length < limit) {
    hits.push(now);
    return {
      allowed: true,
      limit,
      remaining: limit - hits.length,
      resetAtMs: (hits[0] as number) + windowMs,
      retryAfterMs: 0,
    };
  }
  const oldest = hits[0] as number;
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: oldest + windowMs,
    retryAfterMs: oldest + windowMs - now,
  };
}
