import {
  type CreditTerms,
  type RefillInterval,
  refillBoundaryAfter,
  refillBoundaryAtOrBefore,
} from "../limits/credit-balance.js";

/** A key's refill: its balance is reset to `amount` at each `interval` boundary (UTC). */
export interface CreditRefill {
  readonly amount: number;
  readonly interval: RefillInterval;
}

/**
 * A key's prepaid credits as stored: `granted` credits for the period that began at `epoch`
 * (when they were set, or a refill boundary a top-up moved them to). What was spent is
 * counted elsewhere (per rotation lineage and period), so spending never rewrites the key.
 */
export interface KeyCredits {
  readonly granted: number;
  readonly epoch: Date;
  readonly refill: CreditRefill | null;
}

/** A key's credits as the limiter's terms. */
export function creditTerms(credits: KeyCredits): CreditTerms {
  return credits.refill === null
    ? { granted: credits.granted, epochMs: credits.epoch.getTime() }
    : {
        granted: credits.granted,
        epochMs: credits.epoch.getTime(),
        refillAmount: credits.refill.amount,
        refillInterval: credits.refill.interval,
      };
}

/**
 * `credits` after a top-up of `amount` at `now`: the grant grows by `amount`; but if a
 * refill boundary passed since the epoch, the balance the key has now is the refill's, so
 * the epoch first moves to the latest boundary at or before `now` with the refill amount.
 * `undefined` when the result would not be a safe integer.
 */
export function topUpCredits(
  credits: KeyCredits,
  amount: number,
  now: Date,
): KeyCredits | undefined {
  let { granted, epoch } = credits;
  const refill = credits.refill;
  if (refill !== null && refillBoundaryAfter(epoch.getTime(), refill.interval) <= now.getTime()) {
    epoch = new Date(refillBoundaryAtOrBefore(now.getTime(), refill.interval));
    granted = refill.amount;
  }
  const total = granted + amount;
  if (!Number.isSafeInteger(total)) return undefined;
  return { granted: total, epoch, refill };
}

/** Where a key's credits stand now (`KeyGuard.creditBalance`). */
export interface CreditBalance {
  /** Credits left in the current period. */
  readonly remaining: number;
  /** The current period's credits: the grant, or after a refill boundary the refill. */
  readonly periodCredits: number;
  readonly periodStart: Date;
  /** The next refill; `null` without one. */
  readonly refillsAt: Date | null;
}

/**
 * A key's credits as stored, as plain JSON (ISO epoch): exactly what restores them. The
 * audit log records a grant this way and the export file writes it.
 */
export function storedCreditsJson(credits: KeyCredits): {
  granted: number;
  epoch: string;
  refill: { amount: number; interval: RefillInterval } | null;
} {
  return {
    granted: credits.granted,
    epoch: credits.epoch.toISOString(),
    refill:
      credits.refill === null
        ? null
        : { amount: credits.refill.amount, interval: credits.refill.interval },
  };
}
