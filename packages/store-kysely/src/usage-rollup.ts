const HOUR_MS = 3_600_000;

/**
 * The status class a rollup keeps: the hundred (200, 404 -> 400, ...), with 429 apart from
 * the other 4xx (refusals of a valid key's rate limit or quota, which reports tell apart).
 * Every class the reads need can be summed from these: 4xx is 400 + 429, errors >= 400.
 */
export function statusClassOf(statusCode: number): number {
  return statusCode === 429 ? 429 : Math.floor(statusCode / 100) * 100;
}

/** The start of the UTC hour holding `at`. */
export function hourOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/** One rollup row's worth of usage rows. */
export interface RollupSum {
  readonly keyId: string;
  readonly hour: Date;
  readonly statusClass: number;
  requests: number;
  charged: number;
}

/** A usage row as the rollup reads it. */
export interface RollupInput {
  readonly keyId: string;
  readonly timestamp: Date;
  readonly statusCode: number;
  readonly requestCount: number;
  readonly charged: boolean;
}

/**
 * Sums rows per key, hour and status class, sorted by that triple: every writer touches
 * rollup rows in the same order, so two processes rolling up at once wait for each other
 * instead of deadlocking.
 */
export function sumForRollup(rows: Iterable<RollupInput>): RollupSum[] {
  const sums = new Map<string, RollupSum>();
  for (const row of rows) {
    const hour = hourOf(row.timestamp);
    const statusClass = statusClassOf(row.statusCode);
    const id = `${row.keyId}\u0000${hour.getTime()}\u0000${statusClass}`;
    let sum = sums.get(id);
    if (sum === undefined) {
      sum = { keyId: row.keyId, hour, statusClass, requests: 0, charged: 0 };
      sums.set(id, sum);
    }
    sum.requests += row.requestCount;
    if (row.charged) sum.charged += row.requestCount;
  }
  return [...sums.values()].sort(
    (a, b) =>
      compareText(a.keyId, b.keyId) ||
      a.hour.getTime() - b.hour.getTime() ||
      a.statusClass - b.statusClass,
  );
}

/** Code-unit order, the same as the databases' byte order for the ASCII ids used. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
