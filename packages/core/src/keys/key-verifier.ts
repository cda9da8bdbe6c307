import type { CachedLookup, VerificationCache } from "../cache/verification-cache.js";
import type { ApiKeyInfo, StoredApiKey } from "../domain/api-key.js";
import type { ErrorCode } from "../errors/error-codes.js";
import type { KeyGuardInstruments } from "../metrics/keyguard-instruments.js";
import type { Clock } from "../util/clock.js";
import type { ImportedKeyCandidates, ImportedKeyLookup } from "./imported-key-lookup.js";
import { wellFormedKeyBytes } from "./key-format.js";
import type { KeyHasher } from "./key-hasher.js";

/** Why a raw key was or was not accepted. */
export type VerifyOutcome =
  | "valid"
  | "missing"
  | "malformed"
  | "unknown"
  | "revoked"
  | "expired"
  | "organization_suspended";

export type VerifyResult =
  | { readonly outcome: "valid"; readonly key: ApiKeyInfo }
  | {
      readonly outcome: Exclude<VerifyOutcome, "valid">;
      /** The error code a request with this key is refused with. */
      readonly code: ErrorCode;
    };

const REFUSALS = {
  missing: { outcome: "missing", code: "missing_api_key" },
  malformed: { outcome: "malformed", code: "invalid_api_key" },
  unknown: { outcome: "unknown", code: "invalid_api_key" },
  revoked: { outcome: "revoked", code: "revoked_api_key" },
  expired: { outcome: "expired", code: "expired_api_key" },
  organization_suspended: { outcome: "organization_suspended", code: "organization_suspended" },
} as const satisfies Record<Exclude<VerifyOutcome, "valid">, VerifyResult>;

export interface KeyVerifierOptions {
  /** Known and unknown key hashes, shared with whatever invalidates them (changes, the feed). */
  readonly cache: VerificationCache;
  /** The current secret's hasher (throws when no secret is configured). */
  readonly hash: KeyHasher;
  /** Hashers of `previousSecretKeys`, tried in order for a key the current secret does not know. */
  readonly previousHashes: readonly KeyHasher[];
  /** Keys in other systems' formats; undefined when the store cannot hold them. */
  readonly importedKeys: ImportedKeyLookup | undefined;
  /** The store's look-up by hash: what a cache miss costs. */
  readonly load: (keyHash: string) => Promise<StoredApiKey | undefined>;
  readonly clock: Clock;
  readonly instruments: Pick<KeyGuardInstruments, "cacheLookup">;
}

/**
 * Decides whether a raw key may be used: format first (junk is refused without hashing),
 * then its hash through the verification cache (a key seen recently costs no I/O), then
 * retired secrets and imported formats for a key the current secret does not know.
 */
export class KeyVerifier {
  readonly #cache: VerificationCache;
  readonly #hash: KeyHasher;
  readonly #previousHashes: readonly KeyHasher[];
  readonly #importedKeys: ImportedKeyLookup | undefined;
  readonly #load: (keyHash: string) => Promise<StoredApiKey | undefined>;
  readonly #clock: Clock;
  readonly #instruments: Pick<KeyGuardInstruments, "cacheLookup">;

  constructor(options: KeyVerifierOptions) {
    this.#cache = options.cache;
    this.#hash = options.hash;
    this.#previousHashes = options.previousHashes;
    this.#importedKeys = options.importedKeys;
    this.#load = options.load;
    this.#clock = options.clock;
    this.#instruments = options.instruments;
  }

  /**
   * The verdict on a raw key. Rejects with `database_unavailable` only when the store
   * must be asked and cannot answer. An arrow property, so callers can hold it unbound.
   */
  readonly verify = (rawKey: string | null | undefined): Promise<VerifyResult> => {
    try {
      const verdict = this.verifyNow(rawKey);
      return verdict instanceof Promise ? verdict : Promise.resolve(verdict);
    } catch (error) {
      return Promise.reject(error); // no secret configured: reject, never throw
    }
  };

  /**
   * `verify`, answered at once where no look-up is needed (a key in the cache, a key of
   * the wrong form): the request pipeline's hot path then costs no promise. Promises the
   * verdict otherwise; throws where `verify` rejects synchronously (no secret configured).
   */
  readonly verifyNow = (
    rawKey: string | null | undefined,
  ): VerifyResult | Promise<VerifyResult> => {
    if (rawKey === undefined || rawKey === null || rawKey === "") return REFUSALS.missing;
    const keyBytes = wellFormedKeyBytes(rawKey);
    if (keyBytes === undefined) {
      return this.#importedKeys === undefined ? REFUSALS.malformed : this.#verifyImported(rawKey);
    }
    const hash = this.#hash;
    const keyHash = hash.ofBytes === undefined ? hash(rawKey) : hash.ofBytes(keyBytes);
    // A warm key is answered now; one near or past its TTL is refreshed in the background.
    const cached = this.#cache.lookup(keyHash, this.#load);
    this.#instruments.cacheLookup(cached);
    if (this.#previousHashes.length === 0) {
      if (cached !== undefined) return this.#decide(cached);
      return this.#cache.resolve(keyHash, this.#load).then(this.#decide);
    }
    // A retired secret is tried only for a key the current one does not know, so a key of
    // the current secret costs what it costs without previous secrets.
    if (cached?.key !== undefined) return this.#decide(cached);
    const current =
      cached === undefined ? this.#cache.resolve(keyHash, this.#load) : Promise.resolve(cached);
    return current.then((lookup) =>
      lookup.key !== undefined ? this.#decide(lookup) : this.#verifyPrevious(rawKey),
    );
  };

  /** The stored key an imported raw key names (for references: revoke, update, usage). */
  async findImported(rawKey: string): Promise<StoredApiKey | undefined> {
    const lookup = this.#importedKeys;
    if (lookup === undefined) return undefined;
    const candidates = await lookup.candidates(rawKey);
    return candidates === undefined ? undefined : lookup.load(rawKey, candidates);
  }

  /**
   * The key's hash under each previous secret, newest first, each looked up through the
   * cache like the current one: a key of a retired secret, once found, costs one more HMAC
   * and cache read per request (and one query per `negativeTtlMs` for its unknown current
   * hash); an unknown key one query per secret, each answer remembered as unknown. Hashes
   * are looked up by index, never compared byte by byte, so nothing is timed against them.
   */
  async #verifyPrevious(rawKey: string): Promise<VerifyResult> {
    for (const hash of this.#previousHashes) {
      const keyHash = hash(rawKey);
      const lookup =
        this.#cache.lookup(keyHash, this.#load) ?? (await this.#cache.resolve(keyHash, this.#load));
      if (lookup.key !== undefined) return this.#decide(lookup);
    }
    return REFUSALS.unknown;
  }

  /**
   * A key without KeyGuard's checksum: malformed, unless keys imported from another
   * system may have this form. Then it goes through the same cache as any key, under its
   * HMAC (what the key is re-stored as on first use), so a known or unknown one costs no
   * query after its first look-up.
   */
  #verifyImported(rawKey: string): Promise<VerifyResult> {
    const lookup = this.#importedKeys as ImportedKeyLookup;
    try {
      const candidates = lookup.candidates(rawKey);
      if (candidates === undefined) return Promise.resolve(REFUSALS.malformed);
      if (candidates instanceof Promise) {
        return candidates.then((found) =>
          found === undefined ? REFUSALS.malformed : this.#resolveImported(rawKey, found),
        );
      }
      return this.#resolveImported(rawKey, candidates);
    } catch (error) {
      return Promise.reject(error); // no secret configured
    }
  }

  #resolveImported(rawKey: string, candidates: ImportedKeyCandidates): Promise<VerifyResult> {
    const lookup = this.#importedKeys as ImportedKeyLookup;
    const cached = this.#cache.peek(candidates.keyHash);
    this.#instruments.cacheLookup(cached);
    if (cached !== undefined) return Promise.resolve(this.#decide(cached));
    return this.#cache
      .resolve(candidates.keyHash, () => lookup.load(rawKey, candidates))
      .then(this.#decide);
  }

  readonly #decide = (lookup: CachedLookup): VerifyResult => {
    const { key, info } = lookup;
    if (key === undefined) return REFUSALS.unknown;
    if (!key.isActive) return REFUSALS.revoked;
    if (key.expiresAt !== null && key.expiresAt.getTime() <= this.#clock.now()) {
      return REFUSALS.expired;
    }
    if (key.organizationStatus !== "active") return REFUSALS.organization_suspended;
    return { outcome: "valid", key: info };
  };
}
