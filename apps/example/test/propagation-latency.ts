import { expect } from "vitest";

/** Median, p99 and slowest of `latencies` (ms), printed so every run reports them. */
export function percentiles(label: string, latencies: readonly number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)] as number;
  const result = { median: at(0.5), p99: at(0.99), slowest: sorted.at(-1) as number };
  console.log(
    `${label}: median ${result.median.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, slowest ${result.slowest.toFixed(1)} ms (${sorted.length} samples)`,
  );
  return result;
}

/**
 * Polls `probe` until it answers true; milliseconds from the call. Gives up (failing the
 * test) after `giveUpMs`: far beyond any bound, far below what caches would otherwise keep
 * (30 s for a key, a block's whole length), so only a notice can explain a success.
 */
export async function until(
  what: string,
  probe: () => Promise<boolean>,
  giveUpMs = 10_000,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - started;
    if (performance.now() - started > giveUpMs) {
      throw new Error(`${what}: not seen after ${giveUpMs} ms`);
    }
  }
}

/** "200", or the problem's code; any other answer than `expected` fails the test. */
export async function answer(request: Promise<Response>, expected: readonly string[]) {
  const response = await request;
  const got =
    response.status === 200
      ? "200"
      : String(((await response.json()) as { code?: string }).code ?? response.status);
  expect(expected, `answered ${got}`).toContain(got);
  return got;
}
