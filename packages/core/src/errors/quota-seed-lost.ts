/**
 * What a limiter's `decide` rejects with when a key's monthly count that `seedQuota` put in
 * place is gone: the shared store (Redis) lost its data (restarted empty, flushed, failed
 * over to a replica that never had it, evicted it). Nothing was counted. Counting on from
 * zero would hand out the month's quota again, so the caller seeds the quota again from
 * what the store recorded and decides again; the request pipeline does so by itself.
 */
export class QuotaSeedLostError extends Error {
  override readonly name = "QuotaSeedLostError";
  readonly code = "quota_seed_lost";

  constructor(readonly keyId: string) {
    super(
      `The limiter lost the monthly count of key ${keyId} (Redis lost its data); seed it again.`,
    );
  }
}

/** True for a {@link QuotaSeedLostError}, by shape, so CJS and ESM copies recognise each other. */
export function isQuotaSeedLost(error: unknown): error is QuotaSeedLostError {
  return error instanceof Error && error.name === "QuotaSeedLostError";
}
