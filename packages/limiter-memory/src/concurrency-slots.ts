import {
  type ConcurrencySlot,
  type LimitPolicy,
  type LimitSubject,
  type PolicyState,
  releasedOnce,
  slotState,
} from "@keyguard/core/internal";

/**
 * Requests in flight per key and per organization, for the concurrency policies. Counts
 * only: a slot is given back by the process that took it (this one), so nothing expires;
 * an owner's entry goes when its last request ends, so the map holds only owners with
 * requests in flight (bounded by the requests the process is serving).
 */
export class ConcurrencySlots {
  readonly #inFlight = new Map<string, number>();

  /** Whose slots `policy` counts for `key`: the key's, or its organization's. */
  owner(policy: LimitPolicy, key: LimitSubject): string {
    return policy.scope === "organization" ? `org:${key.orgId ?? ""}` : `key:${key.id}`;
  }

  /** Whether one more request fits under `policy`, and its figures as they stand. */
  check(owner: string, policy: LimitPolicy, now: number): PolicyState {
    const inFlight = this.#inFlight.get(owner) ?? 0;
    return slotState(policy.limit, inFlight, now, inFlight < policy.limit);
  }

  /** Takes a slot of each owner (a check allowed it); the figures after it. */
  take(owner: string, policy: LimitPolicy, now: number): PolicyState {
    const inFlight = (this.#inFlight.get(owner) ?? 0) + 1;
    this.#inFlight.set(owner, inFlight);
    return slotState(policy.limit, inFlight, now, true);
  }

  /** The slot of a request that took one of each of `owners`, released once. */
  slot(owners: readonly string[]): ConcurrencySlot {
    return releasedOnce(() => {
      for (const owner of owners) this.#give(owner);
      return Promise.resolve();
    });
  }

  /** Requests in flight, all owners together: for tests and monitoring. */
  get size(): number {
    let total = 0;
    for (const count of this.#inFlight.values()) total += count;
    return total;
  }

  clear(): void {
    this.#inFlight.clear();
  }

  #give(owner: string): void {
    const inFlight = this.#inFlight.get(owner);
    if (inFlight === undefined) return; // cleared meanwhile (the limiter was closed)
    if (inFlight <= 1) this.#inFlight.delete(owner);
    else this.#inFlight.set(owner, inFlight - 1);
  }
}
