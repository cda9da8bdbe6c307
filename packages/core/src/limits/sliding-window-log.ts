import type { WindowDecision } from "./window-decision.js";

/**
 * The requests counted in the current window, as runs: `runs` holds pairs `[time, through]`,
 * oldest first from index `head`, where `time` is when requests were counted (ms) and
 * `through` the running total of requests up to and including that run. Requests counted
 * at the same millisecond are one run, so a key's log holds at most one pair per
 * millisecond of its window (60,000 for a minute) however high its limit, where one number
 * per request would hold every request of the window (6,000,000 at 100,000 requests/s).
 * It is the log of each request's time, losslessly encoded: every answer is the one the
 * list of times gives. Runs before `head` have left the window; they are dropped in bulk
 * now and then, so each request costs O(1) amortized.
 */
export interface SlidingWindowLogState {
  runs: number[];
  /** Index (even) of the oldest run still in the window. */
  head: number;
  /** The running total just before `runs[head]`: requests already out of the window. */
  before: number;
}

/** An empty log. */
export function slidingWindowLogState(): SlidingWindowLogState {
  return { runs: [], head: 0, before: 0 };
}

/** Runs dropped at once, at least: compaction is rare and amortized. */
const COMPACT_AFTER = 2048;

/**
 * keyguard-python's algorithm: remember each allowed request's time; a request is allowed when
 * fewer than `limit` remembered requests are younger than `windowMs`. Exact; memory grows
 * with the distinct milliseconds requests were allowed at within a window (see
 * {@link SlidingWindowLogState}), not with the limit. Refused requests are not remembered,
 * so a client that keeps hammering is let in again as soon as its oldest request leaves
 * the window. A request of cost `c` counts as `c` requests.
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
  const runs = state.runs;
  const horizon = now - windowMs;
  let head = state.head;
  if (head < runs.length && (runs[head] as number) <= horizon) {
    do head += 2;
    while (head < runs.length && (runs[head] as number) <= horizon);
    if (head === runs.length) {
      runs.length = 0;
      head = 0;
      state.before = 0;
    } else {
      state.before = runs[head - 1] as number;
      if (head > COMPACT_AFTER && head * 2 > runs.length) {
        runs.splice(0, head);
        head = 0;
      }
    }
    state.head = head;
  }
  const end = runs.length;
  const before = state.before;
  const counted = end > head ? (runs[end - 1] as number) - before : 0;
  const first = counted > 0 ? (runs[head] as number) : now;
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
  const freedAt = leaving <= counted ? timeOfRequest(runs, head, end, before + leaving) : now;
  return {
    allowed: false,
    limit,
    remaining: Math.max(0, limit - counted),
    resetAtMs: first + windowMs,
    retryAfterMs: freedAt + windowMs - now,
  };
}

/** The time of the run holding request number `through` (binary search on the totals). */
function timeOfRequest(runs: number[], head: number, end: number, through: number): number {
  let low = head >> 1;
  let high = (end >> 1) - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((runs[2 * middle + 1] as number) >= through) high = middle;
    else low = middle + 1;
  }
  return runs[2 * low] as number;
}

/** Counts a request of `cost` that {@link checkSlidingWindowLog} allowed. */
export function chargeSlidingWindowLog(
  state: SlidingWindowLogState,
  now: number,
  cost: number,
): void {
  if (cost <= 0) return;
  const runs = state.runs;
  const end = runs.length;
  if (end > state.head) {
    if (runs[end - 2] === now) runs[end - 1] = (runs[end - 1] as number) + cost;
    else runs.push(now, (runs[end - 1] as number) + cost);
  } else if (end === 0) {
    // A literal of the exact size: a client seen once costs two numbers, not a grown array.
    state.runs = [now, state.before + cost];
  } else runs.push(now, state.before + cost);
}
