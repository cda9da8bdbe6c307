import type { ConcurrencySlot } from "../ports/limiter.js";

/**
 * A slot whose `release` runs `giveBack` the first time only: an adapter may see both a
 * response's end and its connection's close, an error handler may run after either, and
 * none of them must give back a slot another request holds by then. Each limiter makes
 * its slots with this.
 */
export function releasedOnce(giveBack: () => Promise<void>): ConcurrencySlot {
  let released = false;
  return {
    release() {
      if (released) return Promise.resolve();
      released = true;
      return giveBack();
    },
  };
}

/**
 * How long a request refused for concurrency is told to wait (`Retry-After: 1`): a slot
 * comes back whenever a request in flight ends, which no one can foresee; a second is
 * long enough not to hammer, short enough not to idle.
 */
export const CONCURRENCY_RETRY_MS = 1000;

/**
 * A concurrency cap's figures with `inFlight` requests holding slots (after this one, if
 * it took one): `remaining` free slots; no reset time (`resetAtMs` is `now`).
 */
export function slotState(limit: number, inFlight: number, now: number, allowed: boolean) {
  return {
    allowed,
    limit,
    remaining: Math.max(0, limit - inFlight),
    resetAtMs: now,
    retryAfterMs: allowed ? 0 : CONCURRENCY_RETRY_MS,
  };
}
