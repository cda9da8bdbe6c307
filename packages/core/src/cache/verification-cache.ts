import { LRUCache } from "lru-cache";
import { type ApiKeyInfo, type StoredApiKey, toApiKeyInfo } from "../domain/api-key.js";
import { isKeyGuardError } from "../errors/keyguard-error.js";
import type { Clock } from "../util/clock.js";

/**
 * What the cache remembers for a key hash: the stored key (with `info`, its hash-free,
 * frozen view, built once so a hit allocates nothing and no handler can alter what other
 * requests see), or that no key has this hash.
 */
export type CachedLookup =
  | { readonly key: StoredApiKey; readonly info: ApiKeyInfo }
  | { readonly key: undefined; readonly info: undefined };

const UNKNOWN: CachedLookup = Object.freeze({ key: undefined, info: undefined });

function found(key: StoredApiKey): CachedLookup {
  const info = toApiKeyInfo(key);
  Object.freeze(info.scopes);
  return Object.freeze({ key, info: Object.freeze(info) });
}

export interface VerificationCacheOptions {
  /** Most keys (found hashes) remembered. */
  readonly maxEntries: number;
  /**
   * How long a loaded key is trusted without asking the store again: a change made by
   * another process (without a change feed) is seen within it while the store answers.
   * A key in use is refreshed in the background before then, so it never waits.
   */
  readonly ttlMs: number;
  /**
   * How much longer than `ttlMs` a key may still be answered from the cache while the store
   * cannot be reached (`database_unavailable`): stale-if-error. 0 turns it off. Default 0.
   */
  readonly staleIfErrorMs?: number;
  /**
   * Most unknown hashes remembered, in a cache of their own: a flood of unknown keys
   * evicts other unknown keys, never a known one. Default `maxEntries`.
   */
  readonly negativeMaxEntries?: number;
  /** How long "no such key" is remembered: short, so a key created elsewhere works soon. */
  readonly negativeTtlMs: number;
  readonly clock: Clock;
  /**
   * Told about a background refresh that failed for a reason other than the store being
   * unavailable (a bug, say); the cached answer keeps being served meanwhile.
   */
  readonly onRefreshError?: (error: unknown) => void;
}

/** A known key as cached: when it was loaded, and whether refreshing it last failed. */
interface KnownEntry {
  readonly lookup: CachedLookup;
  /** When it was loaded; moved back by `expireAll` so it is re-read before it is trusted. */
  loadedAt: number;
  /** When the last refresh failed because the store was unavailable, if it did. */
  failedAt: number | undefined;
}

/** A key is refreshed in the background once this share of `ttlMs` has passed. */
const REFRESH_AHEAD_FRACTION = 0.75;
/**
 * After a refresh failed for want of a store, the next one waits this long (at most, a
 * tenth of the TTL): a refused connection fails at once, and a busy key would otherwise
 * try on every request.
 */
const REFRESH_RETRY_MS = 1_000;

type Load = (keyHash: string) => Promise<StoredApiKey | undefined>;

/**
 * Bounded hash -> key cache in front of the store: the reason a warm verification does no
 * I/O. A key's entry is trusted for `ttlMs` (so changes made by other processes are seen
 * within it); a key in use is refreshed in the background from three quarters of that on
 * (one refresh per key at a time), so a busy key never waits on the database. When the
 * store cannot be reached, a cached key keeps being answered for up to `staleIfErrorMs`
 * past its TTL (stale-if-error) and is refreshed once the store is back; a key the store
 * no longer has is dropped as soon as a refresh says so. Unknown hashes are remembered
 * briefly (so a flood of random keys costs one query per distinct key, not per request)
 * and never served stale: an outage is not evidence that a key is invalid. Concurrent
 * misses for one hash share a single store query. Known and unknown hashes live in two
 * LRUs with their own bounds, so a flood of well-formed unknown keys cannot push real keys
 * out onto the database.
 */
export class VerificationCache {
  /** Hashes of stored keys (active or not). */
  readonly #known: LRUCache<string, KnownEntry>;
  /** Hashes no key has, remembered for `negativeTtlMs`. */
  readonly #unknown: LRUCache<string, CachedLookup>;
  readonly #inFlight = new Map<string, Promise<CachedLookup>>();
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #refreshAfterMs: number;
  readonly #retryMs: number;
  readonly #staleIfErrorMs: number;
  readonly #onRefreshError: (error: unknown) => void;

  constructor(options: VerificationCacheOptions) {
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs;
    this.#refreshAfterMs = Math.floor(options.ttlMs * REFRESH_AHEAD_FRACTION);
    this.#retryMs = Math.max(1, Math.min(REFRESH_RETRY_MS, Math.floor(options.ttlMs / 10)));
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 0;
    this.#onRefreshError = options.onRefreshError ?? (() => {});
    // Freshness is judged here, from each entry's `loadedAt` and the injected clock (TTL
    // behaviour is testable without sleeps); the LRU only bounds how many are kept. An
    // LRU TTL as well would read the clock a second time on every request's look-up.
    this.#known = new LRUCache<string, KnownEntry>({ max: options.maxEntries });
    this.#unknown = new LRUCache<string, CachedLookup>({
      max: options.negativeMaxEntries ?? options.maxEntries,
      ttl: options.negativeTtlMs,
      perf: options.clock,
      ttlResolution: 0,
    });
  }

  /**
   * The cached lookup for a hash if it is fresh (or an unexpired "unknown"), else
   * `undefined`. Synchronous: no I/O, and nothing is refreshed (see {@link lookup}).
   */
  peek(keyHash: string): CachedLookup | undefined {
    const entry = this.#known.get(keyHash);
    if (entry !== undefined) {
      return this.#clock.now() - entry.loadedAt < this.#ttlMs ? entry.lookup : undefined;
    }
    return this.#unknown.get(keyHash);
  }

  /**
   * The answer for a hash that needs no waiting, or `undefined` when the caller must wait
   * for {@link resolve}. Synchronous. A fresh entry is answered, and refreshed in the
   * background once it is three quarters through its TTL; an entry past its TTL is still
   * answered (within `staleIfErrorMs`) while its refresh is under way or the last one found
   * the store unavailable. Refreshes go through `load`, one per key at a time.
   */
  lookup(keyHash: string, load: Load): CachedLookup | undefined {
    const entry = this.#known.get(keyHash);
    if (entry === undefined) return this.#unknown.get(keyHash);
    const now = this.#clock.now();
    const age = now - entry.loadedAt;
    if (age < this.#refreshAfterMs) return entry.lookup;
    const refreshing = this.#inFlight.has(keyHash);
    const failed = entry.failedAt !== undefined;
    if (!refreshing && (!failed || now - (entry.failedAt ?? 0) >= this.#retryMs)) {
      this.resolve(keyHash, load, true).catch((error: unknown) => {
        if (!isUnavailable(error)) this.#onRefreshError(error);
      });
    }
    if (age < this.#ttlMs) return entry.lookup;
    const servable = age < this.#ttlMs + this.#staleIfErrorMs;
    if ((refreshing || failed) && servable) return entry.lookup;
    if (!servable && !refreshing) this.#known.delete(keyHash); // past every use: forgotten
    return undefined; // expired, store not known to be down: the caller waits for the load
  }

  /**
   * Looks the hash up through `load` unless it is fresh in the cache, sharing one load
   * between concurrent callers. When the store is unavailable and the hash has a cached
   * entry within `staleIfErrorMs` past its TTL, that entry is the answer.
   */
  resolve(keyHash: string, load: Load, refresh = false): Promise<CachedLookup> {
    if (!refresh) {
      const cached = this.peek(keyHash);
      if (cached !== undefined) return Promise.resolve(cached);
    }
    const pending = this.#inFlight.get(keyHash);
    if (pending !== undefined) return pending;
    // An invalidation while the query runs removes it from #inFlight: its answer may be
    // stale, so it goes to the callers already waiting but is not remembered.
    const load$: Promise<CachedLookup> = load(keyHash).then(
      (key) => {
        const lookup = key === undefined ? UNKNOWN : found(key);
        if (this.#inFlight.get(keyHash) === load$) {
          this.#inFlight.delete(keyHash);
          if (key === undefined) {
            this.#known.delete(keyHash); // gone from the store: no longer served
            this.#unknown.set(keyHash, lookup);
          } else {
            this.#known.set(keyHash, {
              lookup,
              loadedAt: this.#clock.now(),
              failedAt: undefined,
            });
          }
        }
        return lookup;
      },
      (error: unknown) => {
        if (this.#inFlight.get(keyHash) !== load$) throw error;
        this.#inFlight.delete(keyHash);
        const entry = this.#known.get(keyHash);
        if (entry === undefined || !isUnavailable(error)) throw error;
        const now = this.#clock.now();
        entry.failedAt = now;
        // Stale-if-error, within its bound (past it, the entry is forgotten at its next look-up).
        if (now - entry.loadedAt < this.#ttlMs + this.#staleIfErrorMs) return entry.lookup;
        throw error;
      },
    );
    this.#inFlight.set(keyHash, load$);
    return load$;
  }

  /** Forgets one key (after this process revoked or changed it). */
  invalidate(keyHash: string): void {
    this.#known.delete(keyHash);
    this.#unknown.delete(keyHash);
    this.#inFlight.delete(keyHash);
  }

  /** Forgets every cached key of an organization (after a suspension or reactivation). */
  invalidateOrganization(orgId: string): void {
    for (const [hash, entry] of this.#known.entries()) {
      if (entry.lookup.key?.orgId === orgId) this.#known.delete(hash);
    }
    this.#inFlight.clear();
  }

  /** Number of cached entries (known and unknown hashes). */
  get size(): number {
    return this.#known.size + this.#unknown.size;
  }

  /** Number of cached unknown hashes. */
  get negativeSize(): number {
    return this.#unknown.size;
  }

  /**
   * Trusts nothing cached any more (notices may have been missed: a change feed
   * reconnected): every known key is re-read before it is answered again, and unknown
   * hashes are forgotten. Unlike {@link clear}, a known key stays available for
   * stale-if-error, so a store that cannot answer at that moment does not turn every key in
   * use into a 503: it is answered as during any outage, within `staleIfErrorMs`.
   */
  expireAll(): void {
    const expired = this.#clock.now() - this.#ttlMs;
    for (const entry of this.#known.values()) entry.loadedAt = Math.min(entry.loadedAt, expired);
    this.#unknown.clear();
    this.#inFlight.clear();
  }

  clear(): void {
    this.#known.clear();
    this.#unknown.clear();
    this.#inFlight.clear();
  }
}

/** Whether a load failed because the store cannot be reached (rather than a bug). */
function isUnavailable(error: unknown): boolean {
  return isKeyGuardError(error) && error.code === "database_unavailable";
}
