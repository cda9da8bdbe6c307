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
 * A request of cost `c` counts as `c` requests.
 *
 * Mutates `state` in place (the memory backend keeps it); time comes only from `now`.
 */
export function slidingWindowLog(
  state: SlidingWindowLogState,
  now: number,
  limit: number,
  windowMs: number,
  cost = 1,
): WindowDecision {
  const decision = checkSlidingWindowLog(state, now, limit, windowMs, cost);
  if (decision.allowed) chargeSlidingWindowLog(state, now, cost);
  return decision;
}

/**
 * Would a request of `cost` pass now? The figures as they would be after it when it would,
 * as they stand when not. Counts nothing (it only drops times that left the window).
 */
export function checkSlidingWindowLog(
  state: SlidingWindowLogState,
  now: number,
  limit: number,
  windowMs: number,
  cost: number,
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
  const first = counted > 0 ? (hits[head] as number) : now;
  if (counted + cost <= limit) {
    return {
      allowed: true,
      limit,
      remaining: limit - counted - cost,
      resetAtMs: first + windowMs,
      retryAfterMs: 0,
    };
  }
  // Passes once enough of the counted requests have left the window (never, if the cost
  // alone exceeds the limit: a window from now is the honest bound).
  const leaving = counted + cost - limit;
  const freedAt = leaving <= counted ? (hits[head + leaving - 1] as number) : now;
  return {
    allowed: false,
    limit,
    remaining: Math.max(0, limit - counted),
    resetAtMs: first + windowMs,
    retryAfterMs: freedAt + windowMs - now,
  };
}

/** Counts a request of `cost` that {@link checkSlidingWindowLog} allowed. */
export function chargeSlidingWindowLog(
  state: SlidingWindowLogState,
  now: number,
  cost: number,
): void {
  for (let i = 0; i < cost; i++) state.hits.push(now);
}
