import type { ApiKeyInfo, KeyGuard } from "@keyguard/express";

/** How far back `GET /api/report` looks. */
const REPORT_HOURS = 24;

/**
 * `GET /api/report`'s answer: the calling key's requests over the last day, in total and
 * per UTC hour (the hours it was used in, oldest first).
 */
export interface UsageReport {
  readonly key_label: string;
  readonly since: string;
  readonly total_requests: number;
  readonly hours: { readonly hour: string; readonly requests: number }[];
}

/**
 * The calling key's own usage report. It reads the database (and writes queued usage
 * first), which is why the route costs 5 of the key's limits instead of 1.
 */
export async function usageReport(kg: KeyGuard, key: ApiKeyInfo): Promise<UsageReport> {
  const since = new Date(kg.clock.now() - REPORT_HOURS * 3_600_000);
  const usage = await kg.usage(key.id, { since });
  return {
    key_label: key.label,
    since: usage.since.toISOString(),
    total_requests: usage.buckets.reduce((sum, bucket) => sum + bucket.total, 0),
    hours: usage.buckets
      .filter((bucket) => bucket.total > 0)
      .map((bucket) => ({
        hour: bucket.hour.toISOString(),
        requests: bucket.total,
      })),
  };
}
