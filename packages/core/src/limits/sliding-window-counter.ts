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
 * current window's count. Two numbers per client, whatever the limit.
 */
export function slidingWindowCounter(
  state: SlidingWindowCounterState,
  now: number,
  limit: number,
  windowMs: number,
): WindowDecision {
  const windowStart = now - (now % windowMs);
  if (windowStart !== state.windowStart) {
    state.previous = windowStart - state.windowStart === windowMs ? state.current : 0;
    state.current = 0;
    state.windowStart = windowStart;
  }
  const overlap = 1 - (now - windowStart) / windowMs;
  const estimated = state.previous * overlap + state.current;
  if (estimated + 1 <= limit) {
    state.current++;
    return {
      allowed: true,
      limit,
      remaining: Math.max(0, Math.floor(limit - estimated - 1)),
      resetAtMs: windowStart + windowMs,
      retryAfterMs: 0,
    };
  }
  // Wait until enough of the previous window has slid out for one more request.
  let retryAfterMs = windowStart + windowMs - now;
  if (state.previous > 0 && state.current + 1 <= limit) {
    const neededOverlap = (limit - state.current - 1) / state.previous;
    retryAfterMs = Math.max(1, Math.ceil((1 - neededOverlap) * windowMs - (now - windowStart)));
  }
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: windowStart + windowMs,
    retryAfterMs,
  };
}
