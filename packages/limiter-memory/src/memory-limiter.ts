import type { IpBlock, Limiter } from "@keyguard/core";
import {
  type CreditSpending,
  chargeGcra,
  chargeSlidingWindowCounter,
  chargeSlidingWindowLog,
  checkGcra,
  checkMonthlyQuota,
  checkSlidingWindowCounter,
  checkSlidingWindowLog,
  detachString,
  type LimitDecision,
  type LimitPolicy,
  type LimitRequest,
  type LimitSubject,
  type MonthlyQuotaState,
  type PolicyAlgorithm,
  type PolicyState,
  policyDecision,
  QuotaSeedLostError,
  type RateLimitAlgorithm,
  type SlidingWindowLogState,
  slidingWindowLogState,
  type WindowDecision,
} from "@keyguard/core/internal";
import { ConcurrencySlots } from "./concurrency-slots.js";
import { CreditCounters, checkCreditPolicy } from "./credit-counters.js";
import { RecentMap } from "./recent-map.js";

/** A quota's count, and whether it was seeded from the store (see `#evictedQuotas`). */
type QuotaEntry = MonthlyQuotaState & { seeded?: boolean };

export interface MemoryLimiterOptions {
  /**
   * Most counters kept of each kind (keys' windows, client buckets, monthly quotas). Past
   * it the least recently used are evicted: a flood of distinct clients cannot grow the
   * heap without bound; an evicted client simply starts a fresh window. Nothing is
   * allocated for entries not yet used: the bound costs nothing until it is reached.
   * Default 100,000 (client buckets at about 210 bytes each: 21 MB per kind at most).
   */
  readonly maxEntries?: number;
  /** Most clients with active blocks kept. Default 100,000. */
  readonly maxBlockedClients?: number;
}

type WindowState =
  | SlidingWindowLogState
  | { windowStart: number; current: number; previous: number }
  | { tat: number };

/**
 * A `hit()` bucket's window, and when it may be forgotten: one window after its last use
 * (by the `now` of the calls; idle that long, every algorithm's state is as good as new).
 * Kept in the state object itself: a million clients cost no wrapper each.
 */
type BucketState = WindowState & { expiresAt: number };

/** One window's counter of one key or organization, with what it was counted by. */
interface PolicyCounter {
  algorithm: PolicyAlgorithm;
  windowMs: number;
  state: WindowState;
}

/** What a policy is checked against: a window's state, or a month's count. */
type CounterState = WindowState | MonthlyQuotaState | CreditSpending;

/**
 * A key's or an organization's counters by policy name, how long they must live (the
 * longest window among them) and when they may be forgotten (that long after last use).
 */
interface CounterSet {
  readonly counters: Map<string, PolicyCounter>;
  ttl: number;
  expiresAt: number;
}

const NO_POLICIES: readonly PolicyState[] = [];
/** The only policy, as `violated` or `shadowRefused` name it (shared: read only). */
const FIRST: readonly number[] = Object.freeze([0]);

/**
 * The Limiter port in one process. Every decision is synchronous under the hood (so it is
 * atomic: nothing else runs between the block check, the rate check and the quota
 * update), bounded by LRU caps, and timed only by the `now` each call passes (which also
 * ages idle state: no clock is read).
 */
export class MemoryLimiter implements Limiter {
  /** Decides in this process, before each call returns: KeyGuard does not time its calls. */
  readonly inProcess = true;
  /** Keys' windows by key id (the cached key's own id string: no per-request key building). */
  readonly #keyWindows: RecentMap<string, CounterSet>;
  /** Organizations' windows by organization id: one counter per organization and policy. */
  readonly #orgWindows: RecentMap<string, CounterSet>;
  /** `hit()` buckets' windows (per-IP limits, failure counts). */
  readonly #windows: RecentMap<string, BucketState>;
  readonly #quotas: RecentMap<string, QuotaEntry>;
  /**
   * Seeded quotas the LRU evicted (more quotas in use than `maxEntries`), until seeded
   * again: the caller believes them seeded, so counting one from zero would hand its month
   * out again; `decide` rejects with `QuotaSeedLostError` instead, as the Redis limiter
   * does for a count Redis lost. Ids only, bounded in turn (past it, the old behaviour).
   */
  readonly #evictedQuotas: RecentMap<string, true>;
  readonly #blocks: RecentMap<string, IpBlock[]>;
  /** Requests in flight per key and organization (concurrency policies). */
  readonly #slots = new ConcurrencySlots();
  /** Credits spent per rotation lineage in its current balance period. */
  readonly #credits: CreditCounters;

  constructor(options: MemoryLimiterOptions = {}) {
    const max = options.maxEntries ?? 100_000;
    this.#keyWindows = new RecentMap(max);
    this.#orgWindows = new RecentMap(max);
    this.#windows = new RecentMap(max);
    this.#evictedQuotas = new RecentMap(max);
    this.#quotas = new RecentMap(max, (state, quotaId) => {
      if (state.seeded === true) this.#evictedQuotas.set(quotaId, true);
    });
    this.#blocks = new RecentMap(options.maxBlockedClients ?? 100_000);
    this.#credits = new CreditCounters(max);
  }

  decide(request: LimitRequest): Promise<LimitDecision> {
    try {
      return Promise.resolve(this.decideNow(request));
    } catch (error) {
      return Promise.reject(error); // a seed-lost quota, as the port's promise says it
    }
  }

  /**
   * `decide`, answered before it returns: the request pipeline calls this when present,
   * so a request costs no promise for its decision. Throws `QuotaSeedLostError` where
   * `decide` rejects with it.
   */
  decideNow(request: LimitRequest): LimitDecision {
    const { now, key, policies } = request;
    const block = this.#findBlock(request.client, request.path, now);
    if (block !== undefined) {
      return {
        allowed: false,
        refusal: "ip_blocked",
        limit: 0,
        remaining: 0,
        resetAtMs: block.untilMs,
        retryAfterMs: block.untilMs - now,
        policies: NO_POLICIES,
        block,
      };
    }
    if (key === undefined || policies === undefined || policies.length === 0) {
      return {
        allowed: true,
        limit: 0,
        remaining: 0,
        resetAtMs: now,
        retryAfterMs: 0,
        policies: NO_POLICIES,
      };
    }
    const cost = request.cost ?? 1;
    // Cost 0 checks without spending: would a request of 1 pass?
    const checkCost = cost === 0 ? 1 : cost;
    const count = policies.length;
    if (count === 1 && (policies[0] as LimitPolicy).algorithm !== "concurrency") {
      return this.#decideOne(key, policies, now, cost, checkCost);
    }
    const counters: (CounterState | undefined)[] = new Array(count);
    /** Slot owners by policy index, for the concurrency policies (one request, one slot). */
    let owners: (string | undefined)[] | undefined;
    const states: PolicyState[] = new Array(count);
    let violated: number[] | undefined;
    let shadowRefused: number[] | undefined;
    // One look-up per owner (the key, its organization, its quota), not per policy.
    let keySet: CounterSet | undefined;
    let orgSet: CounterSet | undefined;
    // Everything is checked before anything is charged: all or nothing.
    for (let i = 0; i < count; i++) {
      const policy = policies[i] as LimitPolicy;
      let counter: CounterState | undefined;
      let state: PolicyState;
      if (policy.algorithm === "concurrency") {
        owners ??= new Array(count);
        const owner = this.#slots.owner(policy, key);
        owners[i] = owner;
        state = this.#slots.check(owner, policy, now);
      } else if (policy.algorithm === "calendar-month") {
        counter = this.#quota(key);
        if (counter === undefined) {
          throw new QuotaSeedLostError(key.quotaId ?? key.id);
        }
      } else if (policy.algorithm === "credits") {
        counter = this.#credits.of(key);
        if (counter === undefined) {
          throw new QuotaSeedLostError(key.quotaId ?? key.id);
        }
      } else if (policy.scope === "organization") {
        orgSet = this.#counterSet(this.#orgWindows, key.orgId ?? "", orgSet, policy.windowMs, now);
        counter = windowCounter(orgSet, policy, cost);
      } else {
        keySet = this.#counterSet(this.#keyWindows, key.id, keySet, policy.windowMs, now);
        counter = windowCounter(keySet, policy, cost);
      }
      counters[i] = counter;
      state ??= check(counter as CounterState, policy, now, checkCost);
      states[i] = state;
      if (!state.allowed) {
        if (policy.mode === "enforce") {
          violated ??= [];
          violated.push(i);
        } else {
          shadowRefused ??= [];
          shadowRefused.push(i);
        }
      }
    }
    if (violated !== undefined) {
      // Refused: nothing is charged, and the others report how they stand.
      for (let i = 0; i < count; i++) {
        const counter = counters[i];
        if ((states[i] as PolicyState).allowed && counter !== undefined) {
          states[i] = check(counter, policies[i] as LimitPolicy, now, 0);
        }
      }
      return policyDecision(policies, states, violated, undefined);
    }
    let held: string[] | undefined;
    for (let i = 0; i < count; i++) {
      const counter = counters[i];
      const policy = policies[i] as LimitPolicy;
      const owner = owners?.[i];
      if (owner !== undefined) {
        // Cost does not apply: one request in flight is one slot, even at cost 0. A shadow
        // cap that would have refused takes none, as if it were enforced.
        if ((states[i] as PolicyState).allowed) {
          states[i] = this.#slots.take(owner, policy, now);
          held ??= [];
          held.push(owner);
        }
      } else if (cost === 0) states[i] = check(counter as CounterState, policy, now, 0);
      // A shadow policy that would have refused is not charged, as if it were enforced.
      else if ((states[i] as PolicyState).allowed)
        charge(counter as CounterState, policy, now, cost);
    }
    const decision = policyDecision(policies, states, undefined, shadowRefused);
    if (held === undefined) return decision;
    return Object.assign(decision, { slot: this.#slots.slot(held) });
  }

  /** The common case, one policy (a key with only `minute`): no arrays to fill. */
  #decideOne(
    key: LimitSubject,
    policies: readonly LimitPolicy[],
    now: number,
    cost: number,
    checkCost: number,
  ): LimitDecision {
    const policy = policies[0] as LimitPolicy;
    let counter: CounterState | undefined;
    if (policy.algorithm === "calendar-month") {
      counter = this.#quota(key);
      if (counter === undefined) throw new QuotaSeedLostError(key.quotaId ?? key.id);
    } else if (policy.algorithm === "credits") {
      counter = this.#credits.of(key);
      if (counter === undefined) throw new QuotaSeedLostError(key.quotaId ?? key.id);
    } else if (policy.scope === "organization") {
      counter = windowCounter(
        this.#counterSet(this.#orgWindows, key.orgId ?? "", undefined, policy.windowMs, now),
        policy,
        cost,
      );
    } else {
      counter = windowCounter(
        this.#counterSet(this.#keyWindows, key.id, undefined, policy.windowMs, now),
        policy,
        cost,
      );
    }
    let state = check(counter, policy, now, checkCost);
    if (!state.allowed) {
      const refused = [state];
      return policy.mode === "enforce"
        ? policyDecision(policies, refused, FIRST, undefined)
        : policyDecision(policies, refused, undefined, FIRST);
    }
    if (cost === 0) state = check(counter, policy, now, 0);
    else charge(counter, policy, now, cost);
    return policyDecision(policies, [state], undefined, undefined);
  }

  /** The quota the key spends (by `quotaId`: a successor continues its predecessor's count). */
  #quota(key: LimitSubject): MonthlyQuotaState | undefined {
    const quotaId = key.quotaId ?? key.id;
    let quota = this.#quotas.get(quotaId);
    if (quota === undefined) {
      if (this.#evictedQuotas.has(quotaId)) return undefined; // seeded, then lost
      quota = { monthStart: 0, used: 0 };
      this.#quotas.set(quotaId, quota);
    }
    return quota;
  }

  /**
   * An owner's counters (`known` if already looked up in this decision), kept at least
   * `windowMs` after this use: idle that long, they are forgotten (a fresh set is as good).
   */
  #counterSet(
    sets: RecentMap<string, CounterSet>,
    owner: string,
    known: CounterSet | undefined,
    windowMs: number,
    now: number,
  ): CounterSet {
    if (known !== undefined) {
      if (known.ttl < windowMs) known.ttl = windowMs;
      known.expiresAt = now + known.ttl;
      return known;
    }
    let set = sets.live(owner, now);
    if (set === undefined) {
      set = { counters: new Map(), ttl: windowMs, expiresAt: now + windowMs };
      sets.add(owner, set, now);
      return set;
    }
    if (set.ttl < windowMs) set.ttl = windowMs;
    set.expiresAt = now + set.ttl;
    return set;
  }

  hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
    cost = 1,
  ): Promise<WindowDecision> {
    let state = this.#windows.live(bucket, now);
    if (state === undefined || !matches(state, algorithm)) {
      state = bucketState(algorithm, now + windowMs);
      this.#windows.add(bucket, state, now);
    } else state.expiresAt = now + windowMs;
    const policy = { limit, windowMs, algorithm } as LimitPolicy;
    const decision = check(state, policy, now, cost === 0 ? 1 : cost);
    if (cost === 0) return Promise.resolve(check(state, policy, now, 0));
    if (decision.allowed) charge(state, policy, now, cost);
    return Promise.resolve(decision);
  }

  seedQuota(quotaId: string, monthStartMs: number, used: number): Promise<void> {
    this.#evictedQuotas.delete(quotaId);
    const state = this.#quotas.get(quotaId);
    if (state === undefined || state.monthStart !== monthStartMs) {
      this.#quotas.set(quotaId, { monthStart: monthStartMs, used, seeded: true });
    } else {
      if (state.used < used) state.used = used;
      state.seeded = true;
    }
    return Promise.resolve();
  }

  seedCredits(quotaId: string, periodStartMs: number, spent: number): Promise<void> {
    this.#credits.seed(quotaId, periodStartMs, spent);
    return Promise.resolve();
  }

  reset(bucket: string): Promise<void> {
    this.#windows.delete(bucket);
    return Promise.resolve();
  }

  block(added: IpBlock, _now: number): Promise<void> {
    // Kept for the block's life: its path must not be a view into a request target.
    const block = added.path === undefined ? added : { ...added, path: detachString(added.path) };
    const existing = (this.#blocks.get(block.client) ?? []).filter(
      (b) => !(b.scope === block.scope && b.path === block.path),
    );
    existing.push(block);
    this.#blocks.set(block.client, existing);
    return Promise.resolve();
  }

  unblock(client: string): Promise<boolean> {
    return Promise.resolve(this.#blocks.delete(client));
  }

  findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined> {
    return Promise.resolve(this.#findBlock(client, path, now));
  }

  listBlocks(now: number): Promise<IpBlock[]> {
    const active: IpBlock[] = [];
    for (const blocks of this.#blocks.values()) {
      for (const block of blocks) if (block.untilMs > now) active.push(block);
    }
    return Promise.resolve(active);
  }

  close(): Promise<void> {
    this.#keyWindows.clear();
    this.#orgWindows.clear();
    this.#windows.clear();
    this.#quotas.clear();
    this.#blocks.clear();
    this.#slots.clear();
    this.#credits.clear();
    return Promise.resolve();
  }

  /** Requests holding concurrency slots (each counted once per cap it holds a slot of). */
  get slotsInUse(): number {
    return this.#slots.size;
  }

  /** Entries held (windows + quotas + blocked clients): for tests and monitoring. */
  get size(): number {
    return (
      this.#keyWindows.size +
      this.#orgWindows.size +
      this.#windows.size +
      this.#quotas.size +
      this.#blocks.size +
      this.#credits.size
    );
  }

  #findBlock(client: string, path: string, now: number): IpBlock | undefined {
    const blocks = this.#blocks.get(client);
    if (blocks === undefined) return undefined;
    let found: IpBlock | undefined;
    let expired = false;
    for (const block of blocks) {
      if (block.untilMs <= now) expired = true;
      else if (block.scope === "global" || block.path === path) {
        if (found === undefined || block.untilMs > found.untilMs) found = block;
      }
    }
    if (expired) {
      const live = blocks.filter((b) => b.untilMs > now);
      if (live.length === 0) this.#blocks.delete(client);
      else this.#blocks.set(client, live);
    }
    return found;
  }
}

/**
 * A window's state in an owner's set, started afresh if its algorithm or window changed.
 * A look at cost 0 never replaces one: it reads a fresh state it keeps to itself, so an
 * admin reading with another algorithm than the requests' cannot reset their window.
 */
function windowCounter(set: CounterSet, policy: LimitPolicy, cost: number): WindowState {
  const counter = set.counters.get(policy.name);
  if (
    counter !== undefined &&
    counter.algorithm === policy.algorithm &&
    counter.windowMs === policy.windowMs
  ) {
    return counter.state;
  }
  const state = initialState(policy.algorithm as RateLimitAlgorithm);
  if (cost === 0 && counter !== undefined) return state;
  set.counters.set(policy.name, { algorithm: policy.algorithm, windowMs: policy.windowMs, state });
  return state;
}

/**
 * A fresh `hit()` bucket: `initialState` with its expiry written in the literal, so a
 * million clients' states are one object each with no property added later (which V8
 * would keep in a second, out-of-object store).
 */
function bucketState(algorithm: RateLimitAlgorithm, expiresAt: number): BucketState {
  if (algorithm === "sliding-window-log") return { runs: [], head: 0, before: 0, expiresAt };
  if (algorithm === "sliding-window-counter") {
    return { windowStart: 0, current: 0, previous: 0, expiresAt };
  }
  return { tat: 0, expiresAt };
}

function initialState(algorithm: RateLimitAlgorithm): WindowState {
  if (algorithm === "sliding-window-log") return slidingWindowLogState();
  if (algorithm === "sliding-window-counter") return { windowStart: 0, current: 0, previous: 0 };
  return { tat: 0 };
}

function matches(state: WindowState, algorithm: RateLimitAlgorithm): boolean {
  if (algorithm === "sliding-window-log") return "runs" in state;
  if (algorithm === "sliding-window-counter") return "windowStart" in state;
  return "tat" in state;
}

/** Would a request of `cost` pass `policy`? Counts nothing. */
function check(
  state: CounterState,
  policy: LimitPolicy,
  now: number,
  cost: number,
): WindowDecision {
  const { limit, windowMs } = policy;
  switch (policy.algorithm) {
    case "sliding-window-log":
      return checkSlidingWindowLog(state as SlidingWindowLogState, now, limit, windowMs, cost);
    case "sliding-window-counter":
      return checkSlidingWindowCounter(
        state as { windowStart: number; current: number; previous: number },
        now,
        limit,
        windowMs,
        cost,
      );
    case "gcra":
      return checkGcra(state as { tat: number }, now, limit, windowMs, cost);
    case "credits":
      return checkCreditPolicy(state as CreditSpending, policy, now, cost);
    default:
      return checkMonthlyQuota(state as MonthlyQuotaState, now, limit, cost);
  }
}

/** Charges `cost` to a policy that allowed it. */
function charge(state: CounterState, policy: LimitPolicy, now: number, cost: number): void {
  switch (policy.algorithm) {
    case "sliding-window-log":
      chargeSlidingWindowLog(state as SlidingWindowLogState, now, cost);
      return;
    case "sliding-window-counter":
      chargeSlidingWindowCounter(
        state as { windowStart: number; current: number; previous: number },
        cost,
      );
      return;
    case "gcra":
      chargeGcra(state as { tat: number }, now, policy.limit, policy.windowMs, cost);
      return;
    case "credits":
      (state as CreditSpending).spent += cost;
      return;
    default:
      (state as MonthlyQuotaState).used += cost;
  }
}
