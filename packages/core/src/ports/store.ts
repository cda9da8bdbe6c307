import type { ApiKey, ApiKeyPatch, StoredApiKey } from "../domain/api-key.js";
import type { StoredIpRule } from "../domain/ip-rule.js";
import type { Organization, OrganizationStatus } from "../domain/organization.js";
import type { SecretFingerprints } from "../domain/secret-fingerprints.js";
import type { StoreCounts } from "../domain/stats.js";
import type { UsageBucket } from "../domain/usage-bucket.js";
import type { UsageEvent } from "../domain/usage-event.js";
import type { KeyHashScheme } from "../keys/key-hash-scheme.js";
import type { ConcurrencySpec, LimitSpec } from "../limits/limit-policy.js";
import type { StoredUsageOverview } from "../usage/usage-overview.js";
import type { AuditLog, EventRecord } from "./audit-log.js";
import type { ChangeFeed } from "./change-feed.js";
import type { IpBlock } from "./limiter.js";
import type { ListPage } from "./list-page.js";
import type { WebhookStore } from "./webhook-store.js";

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

/** What `updateOrganizationStatus` did: `changed` is false when it had that status already. */
export interface OrganizationStatusChange {
  readonly organization: Organization;
  readonly changed: boolean;
}

/** A rotation, as `Store.rotateApiKey` performs it. */
export interface ApiKeyRotation {
  readonly previousId: string;
  /**
   * The successor's own fields. Everything else (organization, label, limits, scopes,
   * expiry, quota) is copied from the predecessor as it is stored when the rotation is
   * decided, so a change committed just before is never lost.
   */
  readonly successor: Pick<ApiKey, "id" | "prefix" | "keyHash" | "createdAt">;
  /** The predecessor must be active, not rotated before, and unexpired at this time. */
  readonly now: Date;
  /**
   * Without one the predecessor is revoked; with one it keeps working until then (or
   * until its own expiry, if that comes first).
   */
  readonly graceEnd?: Date;
}

/** A key as it was and as it is after a change (see `updateApiKey`). */
/** An organization as it was and as it is after a change. */
export interface OrganizationChange {
  readonly before: Organization;
  readonly after: Organization;
}

export interface ApiKeyChange {
  readonly before: StoredApiKey;
  readonly after: StoredApiKey;
}

/** Both keys of a rotation, as stored once it happened. */
export interface RotatedKeys {
  readonly previous: StoredApiKey;
  readonly successor: StoredApiKey;
}

/** What a rotation's `record` gets: both keys, and the predecessor as it was before. */
export interface ApiKeyRotationOutcome extends RotatedKeys {
  readonly before: StoredApiKey;
}

/** An organization's keys, counted (see `Store.countKeysByOrganization`). */
export interface OrganizationKeyCounts {
  /** Keys of any state. */
  readonly total: number;
  /** Keys neither revoked nor expired. */
  readonly active: number;
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
 *   is already stored is skipped (a retried or replayed batch is written once), and rows
 *   and keys are written in a sorted order, so concurrent writers never deadlock.
 * - Usage reads (`countAllowedRequests`, `usageByHour`, `countStats`) give the same numbers
 *   before and after `maintainUsage` rolled rows up.
 * - State changes are decided by the database, not by what the caller read before:
 *   `rotateApiKey`, `revokeApiKey`, `updateApiKey` and `updateOrganizationStatus` are
 *   conditional writes (a row lock or a compare-and-set on the expected state, in one
 *   transaction), so of any number of callers racing to rotate or revoke one key, from any
 *   number of processes, exactly one succeeds and the others are told the key's state.
 * - Every change method takes an optional `record` (see `EventRecord`): called inside the
 *   change's transaction with what the change did, and the event it returns is written
 *   in that same transaction (the audit log, {@link AuditLog}). A change that is refused
 *   or changes nothing calls it not at all, so it writes no event.
 *
 * @example
 * ```ts
 * import { createKyselyStore } from "@keyguard/store-kysely";
 * const store = await createKyselyStore({ url: "sqlite:keyguard.db" });
 * await store.migrate();
 * const kg = new KeyGuard({ config, store });
 * ```
 */
export interface Store extends AuditLog {
  /** The backend's name, for messages (`"sqlite"`, `"postgres"`, ...). */
  readonly dialect: string;

  /** Creates or upgrades the schema. Idempotent and safe to run from two processes at once. */
  migrate(): Promise<void>;

  insertOrganization(organization: Organization, record?: EventRecord<Organization>): Promise<void>;
  /** Organizations by creation time (then name), filtered and paged in the database. */
  listOrganizations(filter?: OrganizationListFilter): Promise<Organization[]>;
  findOrganizationById(id: string): Promise<Organization | undefined>;
  findOrganizationByName(name: string): Promise<Organization | undefined>;
  /**
   * Sets an organization's status unless it has it already (one conditional write: of
   * several callers setting the same status at once, one sees `changed`). `undefined`
   * when there is no such organization. `record` gets the organization as changed, only
   * when it changed.
   */
  updateOrganizationStatus(
    id: string,
    status: OrganizationStatus,
    record?: EventRecord<Organization>,
  ): Promise<OrganizationStatusChange | undefined>;
  /**
   * Optional: replaces an organization's named windows; the organization as stored after,
   * `undefined` when there is no such organization.
   */
  updateOrganizationLimits?(
    id: string,
    limits: readonly LimitSpec[],
    record?: EventRecord<OrganizationChange>,
  ): Promise<Organization | undefined>;
  /**
   * Optional: sets (or, with `null`, removes) an organization's concurrency cap; the
   * organization as stored after, `undefined` when there is no such organization.
   */
  updateOrganizationConcurrency?(
    id: string,
    concurrency: ConcurrencySpec | null,
    record?: EventRecord<OrganizationChange>,
  ): Promise<Organization | undefined>;

  insertApiKey(key: ApiKey, record?: EventRecord<ApiKey>): Promise<void>;
  findApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined>;
  findApiKeyById(id: string): Promise<StoredApiKey | undefined>;
  /** Keys whose display prefix starts with `prefix`, at most `limit` of them. */
  findApiKeysByPrefix(prefix: string, limit: number): Promise<StoredApiKey[]>;
  /** Keys by creation time (then id), filtered and paged in the database. */
  listApiKeys(filter?: ApiKeyListFilter): Promise<StoredApiKey[]>;
  /**
   * Applies `patch` to a key that is active and was not rotated (a rotated key's settings
   * belong to its successor now), in one conditional write. `undefined` when no such key
   * exists at that moment: read it again to tell why. `record` gets the key as it was
   * (read under the write's lock) and as it is.
   */
  updateApiKey(
    id: string,
    patch: ApiKeyPatch,
    record?: EventRecord<ApiKeyChange>,
  ): Promise<StoredApiKey | undefined>;
  /**
   * Revokes a key if it is active (compare-and-set on its state): true when this call
   * revoked it, false when it was revoked already or does not exist. Of several callers
   * at once, exactly one gets true; `record` gets the key as revoked, in that call only.
   */
  revokeApiKey(id: string, record?: EventRecord<StoredApiKey>): Promise<boolean>;
  /**
   * Rotates a key in one transaction: marks the predecessor replaced (only if it is active,
   * unrotated and unexpired at `rotation.now`), inserts the successor with the
   * predecessor's settings and quota, and revokes the predecessor or brings its expiry
   * forward to the grace end. `undefined`, with nothing written, when the predecessor was
   * not in that state: of any number of rotations of one key at once, exactly one succeeds
   * (and only it calls `record`).
   */
  rotateApiKey(
    rotation: ApiKeyRotation,
    record?: EventRecord<ApiKeyRotationOutcome>,
  ): Promise<RotatedKeys | undefined>;
  /**
   * Ids of the keys that spend quota `quotaId` (one rotation lineage) and were used at or
   * after `usedSince` (by `lastUsedAt`, which moves in the same transaction as the usage
   * rows, so no key with usage since then is left out). Seeding a quota counts these keys.
   */
  listQuotaKeyIds(quotaId: string, usedSince: Date): Promise<string[]>;

  /**
   * Optional (a store without it cannot hold credits): credits spent by the rotation
   * lineage `quotaId` in the balance period starting at `periodStart`, as the usage batches
   * written so far recorded them (`UsageEvent.credits`). What a fresh process seeds with.
   */
  creditsSpent?(quotaId: string, periodStart: Date): Promise<number>;
  /**
   * Optional: adds `amount` credits to an active, unrotated key that has credits, in one
   * transaction under the key's lock (concurrent top-ups all count). If a refill boundary
   * passed since the balance's epoch, the epoch first moves to the latest boundary at or
   * before `now` with the refill amount. The key as it was and is after (`record` gets
   * both), or `undefined` when no such key exists at that moment (read it to tell why).
   */
  addCredits?(
    id: string,
    amount: number,
    now: Date,
    record?: EventRecord<ApiKeyChange>,
  ): Promise<ApiKeyChange | undefined>;

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
   * Every key's usage per UTC hour from the start of the hour holding `since` (hours without
   * requests omitted, oldest first, 429s counted apart too), and the ids of the `topKeys`
   * keys with the most requests in that time, most first. Rolled-up and raw rows alike.
   */
  usageOverview(since: Date, topKeys: number): Promise<StoredUsageOverview>;

  /**
   * One bounded step of usage upkeep, each part in a short transaction of its own: rolls
   * up to `limit` rows older than `rollUpBefore` into per-hour rollups, deletes up to
   * `limit` rolled-up rows older than `deleteRowsBefore`, and rollups of hours before
   * `deleteRollupsBefore`. Safe to run from several processes at once. Optional: a store
   * without it keeps every row.
   */
  maintainUsage?(step: UsageMaintenanceStep): Promise<UsageMaintenanceResult>;

  /** Persists an IP block: a manual one, or one KeyGuard made (`automatic: true`). */
  insertIpBlock(block: IpBlock, record?: EventRecord<IpBlock>): Promise<void>;
  /**
   * Removes every persisted block of a client; the number removed. `record` gets the
   * blocks removed, when there were any.
   */
  deleteIpBlocks(client: string, record?: EventRecord<readonly IpBlock[]>): Promise<number>;
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

  // ---- IP rules (optional: without them only configured `ipRules` apply) ----

  /** Stored IP allow / deny rules, oldest first, at most `limit`. */
  listIpRules?(limit: number): Promise<StoredIpRule[]>;
  /**
   * Stores `rule` unless a rule for the same (canonical) `cidr` exists: the rule stored
   * for that cidr afterwards, and whether this call created it (two racing calls: one).
   * With `maxRules`: `undefined`, storing nothing, when there is no rule for the cidr and
   * `maxRules` are stored already; the count and the insert are one decision, so racing
   * calls never store more. `record` gets the rule only when this call created it.
   */
  insertIpRule?(
    rule: StoredIpRule,
    maxRules?: number,
    record?: EventRecord<StoredIpRule>,
  ): Promise<{ rule: StoredIpRule; created: boolean } | undefined>;
  /**
   * Deletes a rule by id: the rule deleted, or `undefined` when there was none. `record`
   * gets the rule only when this call deleted it.
   */
  deleteIpRule?(id: string, record?: EventRecord<StoredIpRule>): Promise<StoredIpRule | undefined>;

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

  /**
   * The keys of each of `orgIds` (at most one page of organizations), `active` as of
   * `now`. An organization without keys may be left out. Optional: without it, listings
   * of organizations carry no key counts.
   */
  countKeysByOrganization?(
    orgIds: readonly string[],
    now: Date,
  ): Promise<ReadonlyMap<string, OrganizationKeyCounts>>;

  /** Counts for `stats`; `requestsSince` counts events at or after `since`. */
  countStats(since: Date, now: Date): Promise<StoreCounts>;
  /**
   * Keys KeyGuard made (scheme `hmac-sha256`) at or before `at` that are neither revoked
   * nor expired at `now`: after a secret rotation at `at`, the keys that still need a
   * previous secret (a key's hash is never recomputed; rotating the key makes a new one).
   * Optional: without it `stats().previousSecretKeys` is 0.
   */
  countActiveKeysCreatedUpTo?(at: Date, now: Date): Promise<number>;

  /**
   * The fingerprints of the secrets the database's keys are hashed with (never the
   * secrets). Optional, with {@link adoptSecretFingerprint} and
   * {@link rotateSecretFingerprint}: KeyGuard checks the configured secret against them
   * when a store has them.
   */
  readSecretFingerprints?(): Promise<SecretFingerprints>;
  /**
   * Records `fingerprint` as the current one unless the database already has one (two
   * processes racing: one wins); the fingerprints as stored afterwards.
   */
  adoptSecretFingerprint?(fingerprint: string, at: Date): Promise<SecretFingerprints>;
  /**
   * In one transaction, if `expected` is still current: retires it and makes `next`
   * current. Resolves `false` (nothing written) when `expected` is not current any more.
   */
  rotateSecretFingerprint?(expected: string, next: string, at: Date): Promise<boolean>;

  /**
   * Optional: a change feed carried by the database itself (PostgreSQL LISTEN/NOTIFY, a
   * change log polled on SQLite), announcing every change whoever makes it. `createKeyGuard`
   * uses it when no other feed (Redis) is configured; `undefined` when the database has
   * none to offer (an in-memory database serves one process). The caller closes it, before
   * the store.
   */
  openChangeFeed?(options: { onError: (error: unknown) => void }): Promise<ChangeFeed | undefined>;
  /** Webhook endpoints and their delivery outbox (optional: without it, no webhooks). */
  readonly webhooks?: WebhookStore;

  /** Releases connections and file handles. */
  close(): Promise<void>;
}

/** Which stored blocks `listIpBlocks` reads. */
export interface IpBlockFilter {
  readonly automatic?: boolean;
  readonly limit?: number;
}
