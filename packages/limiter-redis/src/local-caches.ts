import {
  IpBlockList,
  type LimitDecision,
  type LimitPolicy,
  type LimitRequest,
  samePolicies,
} from "@keyguard/core/internal";
import { LRUCache } from "lru-cache";

/** A key refused until a known time, with what it was refused for. */
interface KnownRefusal {
  readonly decision: LimitDecision;
  readonly untilMs: number;
  readonly policies: readonly LimitPolicy[];
  readonly cost: number;
}

/**
 * Everything the Redis limiter keeps in process memory, in one place and bounded (each
 * at most `maxEntries`): what makes repeated refusals free, and what it must remember to
 * notice that Redis lost data. Nothing here is needed for a decision to be right; each
 * only saves a round trip or catches a loss.
 */
export class LocalCaches {
  /** Blocks known to hold (until they end; kept right across processes by notices). */
  readonly blocks: IpBlockList;
  /** Key refusals that hold until a known time, by key id. */
  readonly #refusals: LRUCache<string, KnownRefusal>;
  /**
   * Quotas this process seeded, by quota id, with the month: their count must then be in
   * Redis, and the decide script reports it missing instead of counting from zero.
   */
  readonly #seeded: LRUCache<string, number>;
  /** Credit balances this process seeded, by quota id, with the balance period's start. */
  readonly #creditsSeeded: LRUCache<string, number>;

  constructor(maxEntries: number) {
    this.#creditsSeeded = new LRUCache({ max: maxEntries });
    this.blocks = new IpBlockList(maxEntries);
    this.#refusals = new LRUCache({ max: maxEntries });
    this.#seeded = new LRUCache({ max: maxEntries });
  }

  /**
   * The key's refusal if one is known to hold at `now` for the same policies and cost (a
   * raised limit is a new policy list, asked anew), with its wait counted from `now`.
   */
  knownRefusal(keyId: string, request: LimitRequest): LimitDecision | undefined {
    const refused = this.#refusals.get(keyId);
    if (refused === undefined) return undefined;
    if (
      refused.untilMs > request.now &&
      refused.cost === (request.cost ?? 1) &&
      samePolicies(refused.policies, request.policies ?? [])
    ) {
      // Not `{ ...decision, retryAfterMs }`: that spread costs V8 about 0.5 µs.
      const retryAfterMs = refused.untilMs - request.now;
      return Object.assign({}, refused.decision, { retryAfterMs });
    }
    this.#refusals.delete(keyId);
    return undefined;
  }

  /** The key is refused until `now + retryAfterMs` for these policies and cost. */
  rememberRefusal(keyId: string, request: LimitRequest, decision: LimitDecision): void {
    this.#refusals.set(keyId, {
      decision,
      untilMs: request.now + decision.retryAfterMs,
      policies: request.policies ?? [],
      cost: request.cost ?? 1,
    });
  }

  /** Whether this process seeded `quotaId` for the month starting at `monthStartMs`. */
  seeded(quotaId: string, monthStartMs: number): boolean {
    return this.#seeded.get(quotaId) === monthStartMs;
  }

  markSeeded(quotaId: string, monthStartMs: number): void {
    this.#seeded.set(quotaId, monthStartMs);
  }

  /** Whether this process seeded `quotaId`'s credits for the period starting at `periodStartMs`. */
  creditsSeeded(quotaId: string, periodStartMs: number): boolean {
    return this.#creditsSeeded.get(quotaId) === periodStartMs;
  }

  markCreditsSeeded(quotaId: string, periodStartMs: number): void {
    this.#creditsSeeded.set(quotaId, periodStartMs);
  }

  /**
   * Redis may have lost data: a refusal may rest on a count that is gone. `seeded` stays:
   * a count seeded this month must still be in Redis, and one that is not is caught by
   * the script, even for a request already past its seed check when this ran.
   */
  stateLost(): void {
    this.#refusals.clear();
  }

  clear(): void {
    this.blocks.clear();
    this.#refusals.clear();
  }
}
