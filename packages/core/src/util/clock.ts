/**
 * Where KeyGuard reads the time. Injected everywhere time matters (expiry, cache TTLs,
 * windows) so tests can move time forward instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
