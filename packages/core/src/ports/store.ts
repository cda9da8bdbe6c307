import type { ApiKey, ApiKeyPatch, StoredApiKey } from "../domain/api-key.js";
import type { Organization, OrganizationStatus } from "../domain/organization.js";
import type { StoreCounts } from "../domain/stats.js";
import type { UsageBucket } from "../domain/usage-bucket.js";
import type { UsageEvent } from "../domain/usage-event.js";
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

/** What one `Store.maintainUsage` step does; core computes the times from `usage.*` settings. */
export interface UsageMaintenanceStep {
  /** Rows with timestamps before this (an hour's start) are rolled up. */
  readonly rollUpBefore: Date;
  /** Rolled-up rows with timestamps before this are deleted. */
  readonly deleteRowsBefore: Date;
  /** Rollups of hours before this are deleted. */
  readonly deleteRollupsBefore: Date;
  /** At most this many rows of each kind per step. */
  readonly limit: number;
}

/** What one step did, in rows; all zero when there was nothing (left) to do. */
export interface UsageMaintenanceResult {
  readonly rolledUp: number;
  readonly deletedRows: number;
  readonly deletedRollups: number;
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
 *   `lastUsedAt` forward to its newest event in the same transaction. An event whose `id`
 *   is already stored is skipped (a retried or replayed batch is written once), and rows
 *   and keys are written in a sorted order, so concurrent writers never deadlock.
 * - Usage reads (`countAllowedRequests`, `usageByHour`, `countStats`) give the same numbers
 *   before and after `maintainUsage` rolled rows up.
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
   * Requests of one key at or after `since` (an hour's start, such as a month's) that were
   * charged to its quota (`UsageEvent.charged`): what a fresh process counts against the
   * key's monthly quota so far.
   */
  countAllowedRequests(keyId: string, since: Date): Promise<number>;

  /**
   * One key's usage per UTC hour from the start of the hour holding `since` (hours without
   * requests omitted), oldest first.
   */
  usageByHour(keyId: string, since: Date): Promise<UsageBucket[]>;

  /**
   * One bounded step of usage upkeep, each part in a short transaction of its own: rolls
   * up to `limit` rows older than `rollUpBefore` into per-hour rollups, deletes up to
   * `limit` rolled-up rows older than `deleteRowsBefore`, and rollups of hours before
   * `deleteRollupsBefore`. Safe to run from several processes at once. Optional: a store
   * without it keeps every row.
   */
  maintainUsage?(step: UsageMaintenanceStep): Promise<UsageMaintenanceResult>;

  /** Persists an IP block: a manual one, or one KeyGuard made (`automatic: true`). */
  insertIpBlock(block: IpBlock): Promise<void>;
  /** Removes every persisted block of a client; the number removed. */
  deleteIpBlocks(client: string): Promise<number>;
  /**
   * Persisted blocks still in force at `now`, the soonest to end first; with `automatic`,
   * only those made by KeyGuard (`true`) or by hand (`false`); with `limit`, at most that
   * many, the latest to end first.
   */
  listIpBlocks(now: Date, filter?: IpBlockFilter): Promise<IpBlock[]>;
  /**
   * Optional: deletes the automatic blocks that ended before `now` (clients can make many,
   * so their rows must not pile up); the number deleted.
   */
  deleteEndedAutomaticBlocks?(now: Date): Promise<number>;

  /** Counts for `stats`; `requestsSince` counts events at or after `since`. */
  countStats(since: Date, now: Date): Promise<StoreCounts>;

  /** Releases connections and file handles. */
  close(): Promise<void>;
}

/** Which stored blocks `listIpBlocks` reads. */
export interface IpBlockFilter {
  readonly automatic?: boolean;
  readonly limit?: number;
}
