import type { WindowDecision } from "./window-decision.js";

/**
 * The times of the requests counted in the current window, oldest first, from `head` on.
 * Entries before `head` have left the window; they are dropped in bulk now and then, so
 * each request costs O(1) amortized instead of shifting the whole array.
 */
export interface SlidingWindowLogState {
  hits: number[];
  head?: number;
}

/**
 * The seed's algorithm: remember each allowed request's time; a request is allowed when
 * fewer than `limit` remembered requests are younger than `windowMs`. Exact; memory grows
 * with the requests allowed in a window (one number each), so prefer the sliding-window
 * counter or GCRA for very high limits. Refused requests are not remembered, so a client
 * that keeps hammering is let in again as soon as its oldest request leaves the window.
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
  let head = state.head ?? 0;
  while (head < hits.length && (hits[head] as number) <= horizon) head++;
  if (head > 1024 && head * 2 > hits.length) {
    hits.splice(0, head);
    head = 0;
  } else if (head === hits.length && head > 0) {
    hits.length = 0;
    head = 0;
  }
  state.head = head;
  const counted = hits.length - head;
  if (counted < limit) {
    hits.push(now);
    return {
      allowed: true,
      limit,
      remaining: limit - counted - 1,
      resetAtMs: (hits[head] as number) + windowMs,
      retryAfterMs: 0,
    };
  }
  const oldest = hits[head] as number;
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: oldest + windowMs,
    retryAfterMs: oldest + windowMs - now,
  };
}
