/** An entry that says when it may be forgotten (ms, on the caller's clock). */
export interface Expiring {
  expiresAt: number;
}

/** Entries `add` looks at for expired state: two per new one, so they go faster than come. */
const EXPIRED_LOOKS = 2;

/**
 * A `Map` bounded to `max` entries that forgets the least recently used first: the memory
 * limiter's store for every kind of counter. Built on the `Map`'s own insertion order (an
 * entry used again is moved to the end), so an entry costs the `Map`'s slot and nothing
 * else, and nothing is allocated before it is needed: a limiter sized for a million clients
 * holds nothing until they arrive. (lru-cache, which this replaces, preallocates its slot
 * arrays for `max` entries per cache, about 200 bytes per slot across the limiter's caches.)
 *
 * It reads no clock: entries that expire carry their `expiresAt` (see `live` and `add`),
 * judged by the `now` the caller decides with.
 */
export class RecentMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #max: number;
  /** Called for an entry dropped to make room (not for `delete`, `set` over it or `clear`). */
  readonly #onEvict: ((value: V, key: K) => void) | undefined;

  constructor(max: number, onEvict?: (value: V, key: K) => void) {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`a RecentMap holds at least one entry (max ${max})`);
    }
    this.#max = max;
    this.#onEvict = onEvict;
  }

  /**
   * The entry, now the most recently used. While the map is at most half full nothing can
   * be evicted before another `max / 2` entries arrive, so the move (a delete and a set) is
   * skipped: an entry used at least once while the map fills from half to full is moved
   * then, so one in use is never the one evicted, and a hot key costs one look-up.
   */
  get(key: K): V | undefined {
    const entries = this.#entries;
    const value = entries.get(key);
    if (value !== undefined && entries.size > this.#max >> 1) {
      entries.delete(key);
      entries.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Adds or replaces an entry as the most recently used, evicting the least if full. */
  set(key: K, value: V): void {
    if (typeof key === "string") flatten(key);
    const entries = this.#entries;
    if (entries.delete(key) || entries.size < this.#max) {
      entries.set(key, value);
      return;
    }
    const oldest = entries.entries().next().value as [K, V];
    entries.delete(oldest[0]);
    entries.set(key, value);
    this.#onEvict?.(oldest[1], oldest[0]);
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /**
   * The entry if it has not expired by `now` (an expired one is dropped), as `get`: for
   * maps whose entries carry their own expiry.
   */
  live(this: RecentMap<K, V & Expiring>, key: K, now: number): V | undefined {
    const value = this.get(key);
    if (value === undefined || value.expiresAt > now) return value;
    this.#entries.delete(key);
    return undefined;
  }

  /**
   * `set`, after dropping up to two entries that have expired by `now` from the least
   * recently used end: once per new entry, so idle state is forgotten as fast as new state
   * arrives, at a bounded cost per call. It stops at the first live entry, so expired
   * entries behind one still in use stay until they are read (`live`), evicted, or the map
   * is more than half full (then use moves live entries to the end, see `get`): the bound
   * on memory is `max` either way; this only gives it back sooner.
   */
  add(this: RecentMap<K, V & Expiring>, key: K, value: V & Expiring, now: number): void {
    const entries = this.#entries;
    let looked = 0;
    for (const [oldKey, old] of entries) {
      if (looked++ === EXPIRED_LOOKS || old.expiresAt > now) break;
      entries.delete(oldKey);
    }
    this.set(key, value);
  }

  values(): IterableIterator<V> {
    return this.#entries.values();
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * Makes a string built by concatenation (`ip:${rule}:${client}`) one flat string. V8 keeps
 * such a string as a tree of pieces (a 20-character bucket name: about 160 bytes) and a
 * `Map` hashes and keeps the tree as it is; reading a character flattens it in place, and
 * the next collection drops the tree for the flat copy (about 40 bytes). It costs one copy
 * per new entry, and a million clients 120 MB less.
 */
function flatten(text: string): void {
  text.charCodeAt(0);
}
