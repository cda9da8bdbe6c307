/**
 * Retries `check` (an assertion) until it passes or `ms` run out, then rethrows its last
 * failure; returns how long it took. For effects that arrive asynchronously but promptly
 * (a pub/sub notice, a reconnection), instead of a fixed sleep.
 */
export async function eventually(
  check: () => Promise<unknown> | unknown,
  ms: number,
  intervalMs = 10,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await check();
      return Date.now() - started;
    } catch (error) {
      if (Date.now() - started > ms) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
