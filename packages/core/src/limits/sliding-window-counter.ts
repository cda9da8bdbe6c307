import type { WindowDecision } from "./window-decision.js";

/** Counts of the current and the previous fixed window. */
export interface SlidingWindowCounterState {
  windowStart: number;
  current: number;
  previous: number;
}

/**
 * Cloudflare's approximation of a sliding window in constant memory: the previous fixed
 * window's count, weighted by how much of it still overlaps the sliding window, plus the
 * current window's count. Two numbers per client, whatever the limit. A request of cost
 * `c` counts as `c` requests.
 */
export function slidingWindowCounter(
  state: SlidingWindowCounterState,
  now: number,
  limit: number,
  windowMs: number,
  cost = 1,
): WindowDecision {
  const decision = checkSlidingWindowCounter(state, now, limit, windowMs, cost);
  if (decision.allowed) state.current += cost;
  return decision;
}

/**
 * Would a request of `cost` pass now? Counts nothing (it only moves the fixed windows on
 * to `now`'s); {@link chargeSlidingWindowCounter} counts an allowed one.
 */
export function checkSlidingWindowCounter(
  state: SlidingWindowCounterState,
  now: number,
  limit: number,
  windowMs: number,
  cost: number,
): WindowDecision {
  const windowStart = now - (now % windowMs);
  if (windowStart !== state.windowStart) {
    state.previous = windowStart - state.windowStart === windowMs ? state.current : 0;
    state.current = 0;
    state.windowStart = windowStart;
  }
  const overlap = 1 - (now - windowStart) / windowMs;
  const estimated = state.previous * overlap + state.current;
  if (estimated + cost <= limit) {
    return {
      allowed: true,
      limit,
      remaining: Math.max(0, Math.floor(limit - estimated - cost)),
      resetAtMs: windowStart + windowMs,
      retryAfterMs: 0,
    };
  }
  // Wait until enough of the previous window has slid out for the request.
  let retryAfterMs = windowStart + windowMs - now;
  if (state.previous > 0 && state.current + cost <= limit) {
    const neededOverlap = (limit - state.current - cost) / state.previous;
    retryAfterMs = Math.max(1, Math.ceil((1 - neededOverlap) * windowMs - (now - windowStart)));
  }
  return {
    allowed: false,
    limit,
    remaining: Math.max(0, Math.floor(limit - estimated)),
    resetAtMs: windowStart + windowMs,
    retryAfterMs,
  };
}

/** Counts a request of `cost` that {@link checkSlidingWindowCounter} allowed. */
export function chargeSlidingWindowCounter(state: SlidingWindowCounterState, cost: number): void {
  state.current += cost;
}
