import { timingSafeEqual } from "node:crypto";
import type { StoredApiKey } from "../domain/api-key.js";
import type { KeyHashSchemeCount, Store } from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import { isKeyguardPythonKey, isPlausibleForeignKey } from "./foreign-key-format.js";
import { isLegacyHashScheme, type LegacyHashScheme, legacyHashOf } from "./key-hash-scheme.js";
import type { KeyHasher } from "./key-hasher.js";

export interface ImportedKeyLookupOptions {
  readonly store: Store;
  /** KeyGuard's HMAC: what an imported key is re-stored under after its first use. */
  readonly hash: KeyHasher;
  /**
   * The HMACs of `previousSecretKeys`: an imported key re-stored under a secret since
   * retired by `rotate-secret` is found by them, and re-stored under the current one.
   */
  readonly previousHashes?: readonly KeyHasher[];
  /** keyguard-python's SECRET_KEY; without it keyguard-python hashes are never computed. */
  readonly legacySecret?: string;
  readonly clock: Clock;
  /** How long the per-scheme key counts are trusted before being re-read (in the background). */
  readonly refreshMs: number;
  /** After a failed read, how soon to try again. */
  readonly retryMs: number;
}

/** What a foreign-format raw key is looked up by: its HMAC and the legacy hashes that apply. */
export interface ImportedKeyCandidates {
  readonly keyHash: string;
  readonly legacy: readonly LegacyHashScheme[];
}

interface Census {
  /** Schemes some stored key uses. */
  readonly present: ReadonlySet<string>;
  readonly readAt: number;
}

/**
 * Verification of keys whose raw form is not KeyGuard's (no valid checksum): keys imported
 * from keyguard-python (`kg_live_` + 43 characters, hashed SHA-256(raw + SECRET_KEY)) or
 * from systems that stored plain SHA-256 (Unkey, better-auth), and such keys already
 * re-stored under KeyGuard's HMAC.
 *
 * Which of those exist is known from a count per hash scheme, read once on the first
 * foreign-format key and then refreshed in the background at most once per `refreshMs`:
 * no request waits on a query after the first, and a database without imported keys
 * refuses foreign-format keys as malformed without looking them up. If the first read
 * fails the key cannot be decided: the store's error (503), remembered for `retryMs`; a
 * failed refresh keeps the census already known. A key that may be
 * imported goes through the verification cache under its HMAC, like any key: one store
 * query per distinct key (positive or negative entry), none per request after that.
 *
 * The first time a legacy-hashed key is presented it is re-stored under KeyGuard's HMAC
 * (a conditional update, so two processes upgrading at once agree), so the legacy secret
 * can be retired once no legacy hash remains (`stats().legacyHashKeys`).
 */
export class ImportedKeyLookup {
  readonly #store: Store;
  readonly #hash: KeyHasher;
  readonly #previousHashes: readonly KeyHasher[];
  readonly #legacySecret: string | undefined;
  readonly #clock: Clock;
  readonly #refreshMs: number;
  readonly #retryMs: number;
  #census: Census | undefined;
  #reading: Promise<Census> | undefined;
  /** The first census read failed: until `until`, answer with its error instead of asking again. */
  #unavailable: { readonly error: unknown; readonly until: number } | undefined;

  constructor(options: ImportedKeyLookupOptions) {
    this.#store = options.store;
    this.#hash = options.hash;
    this.#previousHashes = options.previousHashes ?? [];
    this.#legacySecret = options.legacySecret;
    this.#clock = options.clock;
    this.#refreshMs = options.refreshMs;
    this.#retryMs = options.retryMs;
  }

  /** Whether the store can hold imported keys at all (it implements the optional methods). */
  static supports(store: Store): boolean {
    return (
      store.countKeysByHashScheme !== undefined &&
      store.findApiKeysByHashes !== undefined &&
      store.upgradeKeyHash !== undefined
    );
  }

  /**
   * Reads the census now (at start-up, right after migrating, while the database is known
   * to answer), so that even the first foreign-format key is decided without waiting and
   * without depending on the database being up at that moment. A failure is left for the
   * first such key to meet.
   */
  async prime(): Promise<void> {
    await this.#read().catch(() => {});
  }

  /**
   * What to look `rawKey` up by, or `undefined` when it cannot be an imported key (then
   * it is malformed). Waits for the census only the first time; later it answers from the
   * census it has and refreshes it in the background when it is old.
   */
  candidates(
    rawKey: string,
  ): ImportedKeyCandidates | undefined | Promise<ImportedKeyCandidates | undefined> {
    const pythonFormat = this.#legacySecret !== undefined && isKeyguardPythonKey(rawKey);
    if (!pythonFormat && !isPlausibleForeignKey(rawKey)) return undefined;
    const census = this.#census;
    if (census === undefined) {
      // Nothing known yet and the store not answering: like an uncached key of KeyGuard's
      // own, this cannot be decided (503), and is not asked again before `retryMs`.
      const down = this.#unavailable;
      if (down !== undefined && this.#clock.now() < down.until) return Promise.reject(down.error);
      return this.#read().then((read) => this.#candidates(rawKey, read));
    }
    if (this.#clock.now() - census.readAt >= this.#refreshMs) void this.#read();
    return this.#candidates(rawKey, census);
  }

  #candidates(rawKey: string, census: Census): ImportedKeyCandidates | undefined {
    const legacy: LegacyHashScheme[] = [];
    if (
      this.#legacySecret !== undefined &&
      census.present.has("keyguard-python") &&
      isKeyguardPythonKey(rawKey)
    ) {
      legacy.push("keyguard-python");
    }
    const plausible = isPlausibleForeignKey(rawKey);
    if (plausible && census.present.has("sha256-hex")) legacy.push("sha256-hex");
    if (plausible && census.present.has("sha256-base64url")) legacy.push("sha256-base64url");
    const upgraded = plausible && census.present.has("imported-hmac-sha256");
    if (legacy.length === 0 && !upgraded) return undefined;
    return { keyHash: this.#hash(rawKey), legacy };
  }

  /**
   * The stored key for `rawKey`: by its HMAC (already upgraded), else by each legacy hash
   * or its HMAC under a previous secret, upgrading the key it finds to the current HMAC
   * (what the cache holds it under, so a change to it reaches the cache). The hash a row
   * was found by is compared again in constant time with the one its own scheme gives, so
   * a row is only ever accepted under its scheme.
   */
  async load(rawKey: string, candidates: ImportedKeyCandidates): Promise<StoredApiKey | undefined> {
    const legacyHashes = candidates.legacy.map((scheme) => ({
      scheme,
      hash: legacyHashOf(scheme, rawKey, this.#legacySecret),
    }));
    const previousHashes = this.#previousHashes.map((hash) => hash(rawKey));
    const findByHashes = this.#store.findApiKeysByHashes as NonNullable<
      Store["findApiKeysByHashes"]
    >;
    const rows = await findByHashes.call(this.#store, [
      candidates.keyHash,
      ...legacyHashes.map((entry) => entry.hash),
      ...previousHashes,
    ]);
    for (const row of rows) {
      const scheme = row.hashScheme ?? "hmac-sha256";
      if (!isLegacyHashScheme(scheme)) {
        if (sameHash(row.keyHash, candidates.keyHash)) return row;
        if (
          scheme === "imported-hmac-sha256" &&
          previousHashes.some((previous) => sameHash(row.keyHash, previous))
        ) {
          return this.#upgrade(row, candidates.keyHash);
        }
        continue;
      }
      const expected = legacyHashes.find((entry) => entry.scheme === scheme);
      if (expected === undefined || !sameHash(row.keyHash, expected.hash)) continue;
      return this.#upgrade(row, candidates.keyHash);
    }
    return undefined;
  }

  async #upgrade(row: StoredApiKey, keyHash: string): Promise<StoredApiKey | undefined> {
    const upgrade = this.#store.upgradeKeyHash as NonNullable<Store["upgradeKeyHash"]>;
    const upgraded = await upgrade.call(this.#store, row.id, row.keyHash, keyHash);
    // Undefined: another process upgraded it first (or the key is gone); read what is there.
    return upgraded ?? this.#store.findApiKeyByHash(keyHash);
  }

  #read(): Promise<Census> {
    this.#reading ??= (async () => {
      try {
        const count = this.#store.countKeysByHashScheme as NonNullable<
          Store["countKeysByHashScheme"]
        >;
        const counts: readonly KeyHashSchemeCount[] = await count.call(this.#store);
        const census: Census = {
          present: new Set(counts.filter((c) => c.keys > 0).map((c) => c.scheme)),
          readAt: this.#clock.now(),
        };
        this.#census = census;
        this.#unavailable = undefined;
        return census;
      } catch (error) {
        const known = this.#census;
        if (known === undefined) {
          this.#unavailable = { error, until: this.#clock.now() + this.#retryMs };
          throw error;
        }
        // A refresh failed: keep what was known and try again `retryMs` later, not on
        // every request. The outage is reported by whatever else needs the store.
        const census: Census = {
          present: known.present,
          readAt: this.#clock.now() - this.#refreshMs + this.#retryMs,
        };
        this.#census = census;
        return census;
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }
}

function sameHash(stored: string, expected: string): boolean {
  if (stored.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(stored, "latin1"), Buffer.from(expected, "latin1"));
}
