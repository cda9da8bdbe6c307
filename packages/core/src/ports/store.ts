import type { ApiKey, ApiKeyPatch, StoredApiKey } from "../domain/api-key.js";
import type { Organization, OrganizationStatus } from "../domain/organization.js";
import type { StoreCounts } from "../domain/stats.js";
import type { UsageBucket } from "../domain/usage-bucket.js";
import type { UsageEvent } from "../domain/usage-event.js";
import type { KeyHashScheme } from "../keys/key-hash-scheme.js";
import type { IpBlock } from "./limiter.js";

/**
 * Which part of a listing to read: listings are oldest first, and a page continues after
 * the item whose id was last read (keyset pagination: no offset to skip, and items added
 * or removed meanwhile neither repeat nor shift the rest). An `afterId` naming nothing
 * throws `KeyGuardError("invalid_input")`.
 */
export interface ListPage {
  readonly afterId?: string;
  /** At most this many items (default: all). */
  readonly limit?: number;
}

/** A key's state for listings: revoked (`isActive` false), past its expiry, or usable. */
export type ApiKeyStatus = "active" | "revoked" | "expired";

export interface ApiKeyListFilter extends ListPage {
  readonly orgId?: string;
  /** Only keys in this state at `now`. */
  readonly status?: ApiKeyStatus;
  /** The time `status` is judged at (default: the store's current time). */
  readonly now?: Date;
}

export interface OrganizationListFilter extends ListPage {
  readonly status?: OrganizationStatus;
}

/** How many keys use one hash scheme (see `Store.countKeysByHashScheme`). */
export interface KeyHashSchemeCount {
  readonly scheme: KeyHashScheme;
  /** Keys of any state. */
  readonly keys: number;
  /** Keys not revoked (they may still be expired). */
  readonly unrevokedKeys: number;
}

/**
 * Persistence for organizations, keys and usage. KeyGuard's service validates every input
 * before it reaches a store, so a store only has to store faithfully, map its own
 * constraint errors to KeyGuard codes, and behave identically on every backend (the
 * conformance suite in `@keyguard/testkit` checks that).
 *
 * Rules every implementation follows:
 * - Unique organization names: a duplicate insert throws `KeyGuardError("organization_exists")`
 *   even when two processes race.
 * - Connection failures throw `KeyGuardError("database_unavailable")` with the driver error
 *   as `cause`.
 * - `insertUsageEvents` writes the whole batch or nothing, and moves each key's
 *   `lastUsedAt` forward to its newest event in the same transaction.
 *
 * @example
 * ```ts
 * import { createKyselyStore } from "@keyguard/store-kysely";
 * const store = await createKyselyStore({ url: "sqlite:keyguard.db" });
 * await store.migrate();
 * const kg = new KeyGuard({ config, store });
 * ```
 */
export interface Store {
  /** The backend's name, for messages (`"sqlite"`, `"postgres"`, ...). */
  readonly dialect: string;

  /** Creates or upgrades the schema. Idempotent and safe to run from two processes at once. */
  migrate(): Promise<void>;

  insertOrganization(organization: Organization): Promise<void>;
  /** Organizations by creation time (then name), filtered and paged in the database. */
  listOrganizations(filter?: OrganizationListFilter): Promise<Organization[]>;
  findOrganizationById(id: string): Promise<Organization | undefined>;
  findOrganizationByName(name: string): Promise<Organization | undefined>;
  updateOrganizationStatus(
    id: string,
    status: OrganizationStatus,
  ): Promise<Organization | undefined>;

  insertApiKey(key: ApiKey): Promise<void>;
  findApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined>;
  findApiKeyById(id: string): Promise<StoredApiKey | undefined>;
  /** Keys whose display prefix starts with `prefix`, at most `limit` of them. */
  findApiKeysByPrefix(prefix: string, limit: number): Promise<StoredApiKey[]>;
  /** Keys by creation time (then id), filtered and paged in the database. */
  listApiKeys(filter?: ApiKeyListFilter): Promise<StoredApiKey[]>;
  updateApiKey(id: string, patch: ApiKeyPatch): Promise<StoredApiKey | undefined>;
  /**
   * Inserts `replacement` and applies `previousPatch` to key `previousId` in one
   * transaction: a rotation either happens completely or not at all.
   */
  replaceApiKey(replacement: ApiKey, previousId: string, previousPatch: ApiKeyPatch): Promise<void>;

  /** Writes a batch of usage events in one transaction (see the rules above). */
  insertUsageEvents(events: readonly UsageEvent[]): Promise<void>;

  /**
   * Requests of one key at or after `since` that KeyGuard let through (status other than
   * 429): what a fresh process counts against the key's monthly quota so far.
   */
  countAllowedRequests(keyId: string, since: Date): Promise<number>;

  /** One key's usage at or after `since`, per UTC hour (hours without requests omitted), oldest first. */
  usageByHour(keyId: string, since: Date): Promise<UsageBucket[]>;

  /** Persists a manual IP block. */
  insertIpBlock(block: IpBlock): Promise<void>;
  /** Removes every persisted block of a client; the number removed. */
  deleteIpBlocks(client: string): Promise<number>;
  /** Persisted blocks still in force at `now`, the soonest to end first. */
  listIpBlocks(now: Date): Promise<IpBlock[]>;

  // ---- imported keys (optional: a store without them cannot hold imported keys) ----

  /** Keys per hash scheme; schemes no key uses may be left out. */
  countKeysByHashScheme?(): Promise<readonly KeyHashSchemeCount[]>;
  /** Every key whose stored hash is one of `keyHashes` (at most one per hash). */
  findApiKeysByHashes?(keyHashes: readonly string[]): Promise<StoredApiKey[]>;
  /**
   * Re-stores key `id` under `toHash` with scheme `imported-hmac-sha256`, only if its hash
   * is still `fromHash` (so concurrent upgrades agree); the key as now stored, or
   * `undefined` when nothing was changed.
   */
  upgradeKeyHash?(id: string, fromHash: string, toHash: string): Promise<StoredApiKey | undefined>;

  /** Counts for `stats`; `requestsSince` counts events at or after `since`. */
  countStats(since: Date, now: Date): Promise<StoreCounts>;

  /** Releases connections and file handles. */
  close(): Promise<void>;
}
