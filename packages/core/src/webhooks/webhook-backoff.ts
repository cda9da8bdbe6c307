/**
 * The wait before attempt `failedAttempts + 1`: exponential (`initial * 2^(n-1)`), capped
 * at `max`, with jitter (a random part of up to half the wait), so retries of one outage
 * do not all arrive at the same moment. `random` is injectable for tests.
 *
 * With the defaults (10 s, at most 1 h, for 24 h) that is about 30 attempts, the first
 * few within minutes of a failure and then about hourly.
 */
export function webhookBackoffMs(
  failedAttempts: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 40);
  const full = Math.min(initialMs * 2 ** exponent, maxMs);
  return Math.round(full / 2 + (full / 2) * random());
}
