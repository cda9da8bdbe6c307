import type { CreditTerms, RefillInterval } from "../limits/credit-balance.js";

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
