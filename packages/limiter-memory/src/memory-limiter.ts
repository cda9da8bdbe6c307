import {
  detachString,
  gcra,
  type IpBlock,
  isQuotaExhausted,
  type LimitDecision,
  type Limiter,
  type LimitRequest,
  type MonthlyQuotaState,
  monthlyQuota,
  peekMonthlyQuota,
  QuotaSeedLostError,
  type RateLimitAlgorithm,
  slidingWindowCounter,
  slidingWindowLog,
  type WindowDecision,
} from "@keyguard/core";
import { LRUCache } from "lru-cache";

/** A quota's count, and whether it was seeded from the store (see `#evictedQuotas`). */
type QuotaEntry = MonthlyQuotaState & { seeded?: boolean };

export interface MemoryLimiterOptions {
  /**
   * Most counters kept of each kind (keys' windows, client buckets, monthly quotas). Past
   * it the least recently used are evicted: a flood of distinct clients cannot grow the
   * heap without bound; an evicted client simply starts a fresh window. Default 100,000
   * (client buckets at 5-60 requests per window: tens of MB at most).
   */
  readonly maxEntries?: number;
  /** Most clients with active blocks kept. Default 100,000. */
  readonly maxBlockedClients?: number;
  /**
   * The clock idle counters age by (`now()` in ms). Decisions use the `now` each call
   * passes; this only decides when unused state is forgotten. Default the process clock;
   * tests pass a fake one.
   */
  readonly clock?: { now(): number };
}

type WindowState =
  | { hits: number[] }
  | { windowStart: number; current: number; previous: number }
  | { tat: number };

const MINUTE = 60_000;

/**
 * The Limiter port in one process. Every decision is synchronous under the hood (so it is
 * atomic: nothing else runs between the block check, the rate check and the quota
 * update), bounded by LRU caps, and timed only by the `now` each call passes.
 */
export class MemoryLimiter implements Limiter {
  /** Keys' windows by key id (the cached key's own id string: no per-request key building). */
  readonly #keyWindows: LRUCache<string, WindowState>;
  /** `hit()` buckets' windows (per-IP limits, failure counts). */
  readonly #windows: LRUCache<string, WindowState>;
  readonly #quotas: LRUCache<string, QuotaEntry>;
  /**
   * Seeded quotas the LRU evicted (more quotas in use than `maxEntries`), until seeded
   * again: the caller believes them seeded, so counting one from zero would hand its month
   * out again; `decide` rejects with `QuotaSeedLostError` instead, as the Redis limiter
   * does for a count Redis lost. Ids only, bounded in turn (past it, the old behaviour).
   */
  readonly #evictedQuotas: LRUCache<string, true>;
  readonly #blocks: LRUCache<string, IpBlock[]>;

  constructor(options: MemoryLimiterOptions = {}) {
    const max = options.maxEntries ?? 100_000;
    // A read resets an entry's age, so idle state expires one window after its last use
    // without a `set` (and its bookkeeping) on every request.
    const aging = options.clock === undefined ? {} : { perf: options.clock, ttlResolution: 0 };
    this.#keyWindows = new LRUCache({ max, updateAgeOnGet: true, ...aging });
    this.#windows = new LRUCache({ max, updateAgeOnGet: true, ...aging });
    this.#evictedQuotas = new LRUCache({ max });
    this.#quotas = new LRUCache({
      max,
      dispose: (state, quotaId, reason) => {
        if (reason === "evict" && state.seeded === true) this.#evictedQuotas.set(quotaId, true);
      },
    });
    this.#blocks = new LRUCache({ max: options.maxBlockedClients ?? 100_000 });
  }

  decide(request: LimitRequest): Promise<LimitDecision> {
    const { now, key } = request;
    const block = this.#findBlock(request.client, request.path, now);
    if (block !== undefined) {
      return Promise.resolve({
        allowed: false,
        refusal: "ip_blocked",
        limit: key?.rateLimitPerMinute ?? 0,
        remaining: 0,
        resetAtMs: block.untilMs,
        retryAfterMs: block.untilMs - now,
        block,
      });
    }
    if (key === undefined) {
      return Promise.resolve({
        allowed: true,
        limit: 0,
        remaining: 0,
        resetAtMs: now,
        retryAfterMs: 0,
      });
    }
    let quotaState: QuotaEntry | undefined;
    if (key.monthlyLimit !== null) {
      // By the quota the key spends: a rotated key's successor continues its count.
      const quotaId = key.quotaId ?? key.id;
      quotaState = this.#quotas.get(quotaId);
      if (quotaState === undefined && this.#evictedQuotas.has(quotaId)) {
        return Promise.reject(new QuotaSeedLostError(quotaId));
      }
      if (quotaState === undefined) {
        quotaState = { monthStart: 0, used: 0 };
        this.#quotas.set(quotaId, quotaState);
      }
      if (isQuotaExhausted(quotaState, now, key.monthlyLimit)) {
        const quota = monthlyQuota(quotaState, now, key.monthlyLimit); // refuses, counts nothing
        const { limit, remaining, resetAtMs } = this.#peekRate(key.id, now, key.rateLimitPerMinute);
        return Promise.resolve({
          allowed: false,
          limit,
          remaining,
          resetAtMs,
          retryAfterMs: quota.retryAfterMs,
          refusal: "quota_exceeded",
          quota,
        });
      }
    }
    const rate = this.#count(
      this.#keyWindows,
      key.id,
      now,
      key.rateLimitPerMinute,
      MINUTE,
      request.algorithm,
    );
    // Literals, not `{ ...rate, field }`: on V8 a spread copy that gains a property takes
    // about 0.5 µs, more than the rest of this decision.
    const { allowed, limit, remaining, resetAtMs, retryAfterMs } = rate;
    if (!allowed) {
      // The quota as it stands goes with the refusal (its RateLimit fields), uncounted.
      return Promise.resolve({
        allowed,
        limit,
        remaining,
        resetAtMs,
        retryAfterMs,
        refusal: "rate_limited",
        quota:
          quotaState === undefined || key.monthlyLimit === null
            ? undefined
            : peekMonthlyQuota(quotaState, now, key.monthlyLimit),
      });
    }
    if (quotaState === undefined || key.monthlyLimit === null) return Promise.resolve(rate);
    const quota = monthlyQuota(quotaState, now, key.monthlyLimit);
    return Promise.resolve({ allowed, limit, remaining, resetAtMs, retryAfterMs, quota });
  }

  hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
  ): Promise<WindowDecision> {
    return Promise.resolve(this.#count(this.#windows, bucket, now, limit, windowMs, algorithm));
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
    this.#windows.clear();
    this.#quotas.clear();
    this.#blocks.clear();
    return Promise.resolve();
  }

  /** Entries held (windows + quotas + blocked clients): for tests and monitoring. */
  get size(): number {
    return this.#keyWindows.size + this.#windows.size + this.#quotas.size + this.#blocks.size;
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

  #count(
    windows: LRUCache<string, WindowState>,
    id: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
  ): WindowDecision {
    let state = windows.get(id);
    if (state === undefined || !matches(state, algorithm)) {
      state = initialState(algorithm);
      // Idle state can be forgotten one window after its last use (reads renew it).
      windows.set(id, state, { ttl: windowMs });
    }
    return run(state, algorithm, now, limit, windowMs);
  }

  /**
   * The key's rate-limit figures without counting a request (for a quota refusal), as the
   * Redis scripts answer them with a count of 0: the same arithmetic as each algorithm.
   */
  #peekRate(keyId: string, now: number, limit: number): WindowDecision {
    const state = this.#keyWindows.get(keyId);
    let remaining = limit;
    let resetAtMs = now + MINUTE;
    if (state !== undefined && "hits" in state) {
      const live = state.hits.filter((t) => t > now - MINUTE);
      remaining = Math.max(0, limit - live.length);
      resetAtMs = (live[0] ?? now) + MINUTE;
    } else if (state !== undefined && "windowStart" in state) {
      const windowStart = now - (now % MINUTE);
      let { current, previous } = state;
      if (windowStart !== state.windowStart) {
        previous = windowStart - state.windowStart === MINUTE ? current : 0;
        current = 0;
      }
      const estimated = previous * (1 - (now - windowStart) / MINUTE) + current;
      remaining = estimated + 1 <= limit ? Math.max(0, Math.floor(limit - estimated)) : 0;
      resetAtMs = windowStart + MINUTE;
    } else if (state !== undefined) {
      const interval = MINUTE / limit;
      const tat = Math.max(state.tat, now);
      remaining =
        now < tat + interval - MINUTE
          ? 0
          : Math.max(0, Math.floor((MINUTE - (tat - now)) / interval));
      resetAtMs = Math.ceil(tat);
    }
    return { allowed: true, limit, remaining, resetAtMs, retryAfterMs: 0 };
  }
}

function initialState(algorithm: RateLimitAlgorithm): WindowState {
  if (algorithm === "sliding-window-log") return { hits: [] };
  if (algorithm === "sliding-window-counter") return { windowStart: 0, current: 0, previous: 0 };
  return { tat: 0 };
}

function matches(state: WindowState, algorithm: RateLimitAlgorithm): boolean {
  if (algorithm === "sliding-window-log") return "hits" in state;
  if (algorithm === "sliding-window-counter") return "windowStart" in state;
  return "tat" in state;
}

function run(
  state: WindowState,
  algorithm: RateLimitAlgorithm,
  now: number,
  limit: number,
  windowMs: number,
): WindowDecision {
  if (algorithm === "sliding-window-log")
    return slidingWindowLog(state as { hits: number[] }, now, limit, windowMs);
  if (algorithm === "sliding-window-counter") {
    return slidingWindowCounter(
      state as { windowStart: number; current: number; previous: number },
      now,
      limit,
      windowMs,
    );
  }
  return gcra(state as { tat: number }, now, limit, windowMs);
}
