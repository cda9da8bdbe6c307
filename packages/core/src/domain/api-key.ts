import type { KeyHashScheme } from "../keys/key-hash-scheme.js";
import type { ConcurrencySpec, LimitSpec } from "../limits/limit-policy.js";
import type { KeyCredits } from "./key-credits.js";
import type { OrganizationStatus } from "./organization.js";

/**
 * An API key as stored (keyguard-python's `api_keys` table). The raw key is never part of it:
 * only its HMAC (`keyHash`) and a short display prefix such as `kg_live_4Gk9`.
 */
export interface ApiKey {
  readonly id: string;
  readonly orgId: string;
  readonly label: string;
  /** Human-facing start of the key, e.g. `kg_live_4Gk9`: for listings and look-ups. */
  readonly prefix: string;
  /** HMAC-SHA256 of the raw key, keyed with the secret. Internal: never leaves the library. */
  readonly keyHash: string;
  /**
   * How `keyHash` was computed (absent: `hmac-sha256`, KeyGuard's own). Imported keys
   * carry their old system's scheme until their first use re-stores them under the HMAC.
   */
  readonly hashScheme?: KeyHashScheme;
  readonly isActive: boolean;
  readonly scopes: readonly string[];
  readonly rateLimitPerMinute: number;
  /** Requests allowed per calendar month (UTC); `null` means no monthly quota. */
  readonly monthlyLimit: number | null;
  /**
   * Named windows besides `rateLimitPerMinute` (the policy `minute`) and `monthlyLimit`
   * (`month`), all enforced together: up to `MAX_LIMITS`. Absent or empty: none.
   */
  readonly limits?: readonly LimitSpec[];
  /**
   * Most of the key's requests in flight at once (the policy `concurrency`); absent or
   * `null`: no cap.
   */
  readonly concurrency?: ConcurrencySpec | null;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  /**
   * The monthly quota this key spends: the id of the first key of its rotation lineage
   * (its own id unless it was made by rotating another key). A rotation's successor
   * continues its predecessor's count for the month, and during a grace period both keys
   * spend the one quota.
   */
  readonly quotaId: string;
  /** The id of the key that replaced this one, once it was rotated (`null` before). */
  readonly replacedBy: string | null;
  /**
   * Where the key may be used from: canonical CIDRs (`203.0.113.0/24`). Used from any
   * other address it is refused with 403 `ip_not_allowed`. Absent or `null`: anywhere.
   */
  readonly allowedIps?: readonly string[] | null;
  /**
   * Prepaid credits: each allowed request spends its cost, refused with 429
   * `credits_exhausted` once too few are left. Spent per rotation lineage (`quotaId`), so
   * a successor keeps the balance. Absent or `null`: no credits.
   */
  readonly credits?: KeyCredits | null;
}

/** A stored key together with the facts about its organization that verification needs. */
export interface StoredApiKey extends ApiKey {
  readonly organizationName: string;
  readonly organizationStatus: OrganizationStatus;
  /** The organization's named windows, shared by all of its keys (absent: none). */
  readonly organizationLimits?: readonly LimitSpec[];
  /** The organization's cap on its keys' requests in flight (`org.concurrency`). */
  readonly organizationConcurrency?: ConcurrencySpec | null;
}

/**
 * What KeyGuard hands to callers: a key without its hash (and, of course, without the raw
 * key). This is what listings return and what adapters attach to a request.
 */
export type ApiKeyInfo = Omit<StoredApiKey, "keyHash">;

/**
 * The fields of a key that can be changed after creation (revocation and rotation have
 * operations of their own, decided in the database: `Store.revokeApiKey`, `rotateApiKey`).
 */
export interface ApiKeyPatch {
  readonly label?: string;
  readonly scopes?: readonly string[];
  readonly rateLimitPerMinute?: number;
  readonly monthlyLimit?: number | null;
  /** The key's named windows, replacing its current ones (`[]`: none). */
  readonly limits?: readonly LimitSpec[];
  /** `null` removes the cap. */
  readonly concurrency?: ConcurrencySpec | null;
  readonly expiresAt?: Date | null;
  /** `null` (or an empty list) lifts the restriction. */
  readonly allowedIps?: readonly string[] | null;
  /** New credits (a fresh balance from now on), or `null` to remove them. */
  readonly credits?: KeyCredits | null;
}

/**
 * Drops the hash: the only way an {@link ApiKeyInfo} is made from a stored key. Spelled
 * out field by field (rather than `{ keyHash, ...rest }`) because it runs on every cache
 * fill and a literal is several times faster than an object rest copy.
 */
export function toApiKeyInfo(key: StoredApiKey): ApiKeyInfo {
  return {
    id: key.id,
    orgId: key.orgId,
    label: key.label,
    prefix: key.prefix,
    isActive: key.isActive,
    scopes: key.scopes,
    rateLimitPerMinute: key.rateLimitPerMinute,
    monthlyLimit: key.monthlyLimit,
    limits: key.limits,
    concurrency: key.concurrency ?? null,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    lastUsedAt: key.lastUsedAt,
    quotaId: key.quotaId,
    replacedBy: key.replacedBy,
    allowedIps: key.allowedIps ?? null,
    credits: key.credits ?? null,
    organizationName: key.organizationName,
    organizationStatus: key.organizationStatus,
    organizationLimits: key.organizationLimits,
    organizationConcurrency: key.organizationConcurrency ?? null,
  };
}
