import { type CreditTerms, creditPeriod } from "../limits/credit-balance.js";
import { calendarMonth } from "../limits/monthly-quota.js";
import type { Limiter } from "../ports/limiter.js";
import { lineageCreditsSince, lineageRequestsSince } from "../usage/lineage-usage.js";
import type { UsageCounts } from "./guard-context.js";

/**
 * Starts a limiter's long-lived counts (a quota's month, a credit balance's period) from
 * what the store recorded, the first time this process sees them: a restart, or a Redis
 * that lost its data, must not hand out a fresh quota or fresh credits.
 *
 * One seed per lineage (`quotaId`) per period, shared by the requests that find it due at
 * once; nothing on later requests, and nothing at all for a limiter without `seedQuota` /
 * `seedCredits`.
 */
export class LimitSeeding {
  readonly #limiter: Limiter;
  readonly #counts: UsageCounts;
  /** Quotas whose count was seeded, and for which month. */
  readonly #quotaSeeded = new Map<string, number>();
  /** Lineages whose balance was seeded, and for which period. */
  readonly #creditsSeeded = new Map<string, number>();
  /** Seeds under way, by quota id (bounded by the keys in use at once). */
  readonly #quotaSeeding = new Map<string, Promise<void>>();
  readonly #creditSeeding = new Map<string, Promise<void>>();

  constructor(limiter: Limiter, counts: UsageCounts) {
    this.#limiter = limiter;
    this.#counts = counts;
    // Counts the limiter keeps elsewhere (Redis) may be gone after a reconnection: what
    // was seeded so far is seeded again before its next decision.
    limiter.onStateLost?.(() => this.forget());
  }

  /** Whether the quota needs a seed this month. Synchronous: nearly always `false`. */
  quotaDue(quotaId: string, now: number): boolean {
    return (
      this.#limiter.seedQuota !== undefined &&
      this.#quotaSeeded.get(quotaId) !== calendarMonth(now).start
    );
  }

  /** Whether the lineage's credit balance needs a seed this period. */
  creditsDue(quotaId: string, terms: CreditTerms, now: number): boolean {
    return (
      this.#limiter.seedCredits !== undefined &&
      this.#creditsSeeded.get(quotaId) !== creditPeriod(terms, now).start
    );
  }

  /**
   * Seeds the quota's month: the month's allowed requests of the lineage's keys used this
   * month (usually one, two during a rotation's grace period). Shared while under way:
   * after Redis lost its data every request of a busy key finds its seed due at once, and
   * each asking the store would put a query per request on the database just then.
   */
  seedQuota(quotaId: string, orgId: string, now: number): Promise<void> {
    return once(this.#quotaSeeding, quotaId, () => this.#seedQuota(quotaId, orgId, now));
  }

  /** Seeds the lineage's spending this balance period (one query), as a quota's month. */
  seedCredits(quotaId: string, orgId: string, terms: CreditTerms, now: number): Promise<void> {
    return once(this.#creditSeeding, quotaId, () => this.#seedCredits(quotaId, orgId, terms, now));
  }

  /** Everything is seeded again before its next decision. */
  forget(): void {
    this.#quotaSeeded.clear();
    this.#creditsSeeded.clear();
  }

  async #seedQuota(quotaId: string, orgId: string, now: number): Promise<void> {
    const seed = this.#limiter.seedQuota;
    if (seed === undefined) return;
    const { start } = calendarMonth(now);
    const used = await lineageRequestsSince(this.#counts, quotaId, new Date(start));
    await seed.call(this.#limiter, quotaId, start, used, orgId);
    this.#quotaSeeded.set(quotaId, start);
  }

  async #seedCredits(
    quotaId: string,
    orgId: string,
    terms: CreditTerms,
    now: number,
  ): Promise<void> {
    const seed = this.#limiter.seedCredits;
    if (seed === undefined) return;
    const { start } = creditPeriod(terms, now);
    const spent = await lineageCreditsSince(this.#counts, quotaId, new Date(start));
    await seed.call(this.#limiter, quotaId, start, spent, orgId);
    this.#creditsSeeded.set(quotaId, start);
  }
}

/** `run()`, shared with whoever asks for the same `id` while it is under way. */
function once(pending: Map<string, Promise<void>>, id: string, run: () => Promise<void>) {
  const current = pending.get(id);
  if (current !== undefined) return current;
  const started = run().finally(() => pending.delete(id));
  pending.set(id, started);
  return started;
}
