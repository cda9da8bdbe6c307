import { LRUCache } from "lru-cache";
import { type ApiKeyInfo, type StoredApiKey, toApiKeyInfo } from "../domain/api-key.js";
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
  readonly ttlMs: number;
  /**
   * Most unknown hashes remembered, in a cache of their own: a flood of unknown keys
   * evicts other unknown keys, never a known one. Default `maxEntries`.
   */
  readonly negativeMaxEntries?: number;
  /** How long "no such key" is remembered: short, so a key created elsewhere works soon. */
  readonly negativeTtlMs: number;
  readonly clock: Clock;
}

/**
 * Bounded hash -> key cache in front of the store: the reason a warm verification does no
 * I/O. Entries expire after a TTL (so revocations made by other processes are seen within
 * it), unknown hashes are remembered briefly (so a flood of random keys costs one query
 * per distinct key, not per request), and concurrent misses for one hash share a single
 * store query. Known and unknown hashes live in two LRUs with their own bounds, so a
 * flood of well-formed unknown keys cannot push real keys out onto the database.
 */
export class VerificationCache {
  /** Hashes of stored keys (active or not). */
  readonly #known: LRUCache<string, CachedLookup>;
  /** Hashes no key has, remembered for `negativeTtlMs`. */
  readonly #unknown: LRUCache<string, CachedLookup>;
  readonly #inFlight = new Map<string, Promise<CachedLookup>>();

  constructor(options: VerificationCacheOptions) {
    // Time comes from the injected clock so TTL behaviour is testable without sleeps.
    this.#known = new LRUCache<string, CachedLookup>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      perf: options.clock,
      ttlResolution: 0,
    });
    this.#unknown = new LRUCache<string, CachedLookup>({
      max: options.negativeMaxEntries ?? options.maxEntries,
      ttl: options.negativeTtlMs,
      perf: options.clock,
      ttlResolution: 0,
    });
  }

  /** The cached lookup for a hash, or `undefined` on a miss. Synchronous: no I/O. */
  peek(keyHash: string): CachedLookup | undefined {
    return this.#known.get(keyHash) ?? this.#unknown.get(keyHash);
  }

  /** Looks the hash up through `load` on a miss, sharing one load between concurrent callers. */
  resolve(
    keyHash: string,
    load: (keyHash: string) => Promise<StoredApiKey | undefined>,
  ): Promise<CachedLookup> {
    const cached = this.peek(keyHash);
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.#inFlight.get(keyHash);
    if (pending !== undefined) return pending;
    // An invalidation while the query runs removes it from #inFlight: its answer may be
    // stale, so it goes to the callers already waiting but is not remembered.
    const load$: Promise<CachedLookup> = load(keyHash).then(
      (key) => {
        const lookup = key === undefined ? UNKNOWN : found(key);
        if (this.#inFlight.get(keyHash) === load$) {
          this.#inFlight.delete(keyHash);
          if (key === undefined) this.#unknown.set(keyHash, lookup);
          else this.#known.set(keyHash, lookup);
        }
        return lookup;
      },
      (error: unknown) => {
        if (this.#inFlight.get(keyHash) === load$) this.#inFlight.delete(keyHash);
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
    for (const [hash, lookup] of this.#known.entries()) {
      if (lookup.key?.orgId === orgId) this.#known.delete(hash);
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

  clear(): void {
    this.#known.clear();
    this.#unknown.clear();
    this.#inFlight.clear();
  }
}
