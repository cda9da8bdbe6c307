/**
 * Retries `check` (an assertion) until it passes or `ms` run out, then rethrows its last
 * failure, saying how long it was retried; returns how long it took. For effects that arrive
 * asynchronously (a pub/sub notice, a reconnection), instead of a fixed sleep: `ms` only
 * bounds a failure (it returns as soon as `check` passes), so make it generous, seconds
 * rather than the milliseconds the effect takes on a quiet machine.
 */
export async function eventually(
  check: () => Promise<unknown> | unknown,
  ms: number,
  intervalMs = 10,
): Promise<number> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    try {
      await check();
      return Date.now() - started;
    } catch (error) {
      const waited = Date.now() - started;
      if (waited > ms) {
        if (error instanceof Error) {
          error.message = `${error.message} (still failing after ${waited} ms, ${tries} tries)`;
        }
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
