import type { Store } from "../ports/store.js";

/**
 * What the store says a key's rotation lineage (`quotaId`) has spent: the reads that seed
 * a limiter's month and credits, and that the live figures never go below.
 */
export type LineageUsageReads = Pick<
  Store,
  "listQuotaKeyIds" | "countAllowedRequests" | "creditsSpent"
>;

/**
 * The allowed requests of the lineage's keys since `since` (a month's start): usually one
 * key, two during a rotation's grace period. One query per key used since then.
 */
export async function lineageRequestsSince(
  reads: LineageUsageReads,
  quotaId: string,
  since: Date,
): Promise<number> {
  const keyIds = await reads.listQuotaKeyIds(quotaId, since);
  const counts = await Promise.all(keyIds.map((id) => reads.countAllowedRequests(id, since)));
  return counts.reduce((sum, count) => sum + count, 0);
}

/** The lineage's credits spent since `periodStart`; 0 for a store that keeps none. */
export async function lineageCreditsSince(
  reads: LineageUsageReads,
  quotaId: string,
  periodStart: Date,
): Promise<number> {
  const spentIn = reads.creditsSpent;
  return spentIn === undefined ? 0 : spentIn.call(reads, quotaId, periodStart);
}
