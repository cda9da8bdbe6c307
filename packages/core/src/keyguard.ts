import { randomUUID } from "node:crypto";
import { type BlockOptions, IpBlockService } from "./blocks/ip-block-service.js";
import { type CachedLookup, VerificationCache } from "./cache/verification-cache.js";
import type { KeyGuardConfig } from "./config/keyguard-config.js";
import {
  type ApiKey,
  type ApiKeyInfo,
  type ApiKeyPatch,
  type StoredApiKey,
  toApiKeyInfo,
} from "./domain/api-key.js";
import type { Organization, OrganizationStatus } from "./domain/organization.js";
import type { KeyGuardStats } from "./domain/stats.js";
import type { UsageBucket } from "./domain/usage-bucket.js";
import type { UsageEvent } from "./domain/usage-event.js";
import type { ErrorCode } from "./errors/error-codes.js";
import { KeyGuardError } from "./errors/keyguard-error.js";
import {
  DISPLAY_PREFIX_LENGTH,
  generateRawKey,
  isWellFormedKey,
  type KeyEnvironment,
  keyEnvironmentOf,
} from "./keys/key-format.js";
import { createKeyHasher, type KeyHasher } from "./keys/key-hasher.js";
import {
  type ClientAddressResolver,
  createClientAddressResolver,
  forwardedForOf,
} from "./pipeline/client-address.js";
import { IpRateLimit, type IpRateLimitRule } from "./pipeline/ip-rate-limit.js";
import { type GuardOptions, type GuardRequest, RequestGuard } from "./pipeline/request-guard.js";
import type { ChangeFeed, KeyGuardChange } from "./ports/change-feed.js";
import type { IpBlock, Limiter } from "./ports/limiter.js";
import type { Store } from "./ports/store.js";
import { UsageRecorder, type UsageRecorderStats } from "./usage/usage-recorder.js";
import { warnBackgroundError } from "./util/background-error.js";
import { type Clock, systemClock } from "./util/clock.js";
import {
  expiresAtSchema,
  keyLabelSchema,
  monthlyLimitSchema,
  organizationNameSchema,
  parseInput,
  rateLimitSchema,
  scopesSchema,
} from "./validation/operation-inputs.js";

export interface KeyGuardOptions {
  /** A validated configuration (see `resolveConfig`). */
  readonly config: KeyGuardConfig;
  readonly store: Store;
  /** Time source; tests pass a fake one. */
  readonly clock?: Clock;
  /** Told about failures that happen off the request path (a usage batch that failed). */
  readonly onBackgroundError?: (error: unknown) => void;
  /** Rate limits and IP blocks for the request pipeline (`guard()`). */
  readonly limiter?: Limiter;
  /**
   * Tells other processes about revoked or changed keys, suspended organizations and IP
   * blocks, and hears theirs (Redis pub/sub: `@keyguard/limiter-redis`). Without one,
   * other processes see a change once their cached copy expires (`cache.ttlMs`).
   */
  readonly changeFeed?: ChangeFeed;
}

export interface CreateApiKeyInput {
  /** The owning organization, by name or id. */
  readonly organization: string;
  readonly label: string;
  /** Defaults to the configured `defaultRateLimitPerMinute`. */
  readonly rateLimitPerMinute?: number;
  /** Requests per calendar month (UTC); omitted or `null` = no quota. */
  readonly monthlyLimit?: number | null;
  readonly scopes?: readonly string[];
  /** When the key stops working; must be in the future. */
  readonly expiresAt?: Date | null;
  /** `kg_live_` or `kg_test_` keys; defaults to the configured `keyEnvironment`. */
  readonly environment?: KeyEnvironment;
}

/** A new key: `rawKey` is shown to the caller once and never stored anywhere. */
export interface CreatedApiKey {
  readonly rawKey: string;
  readonly key: ApiKeyInfo;
}

export type UpdateApiKeyInput = Omit<ApiKeyPatch, "isActive">;

/** The result of a rotation: the new key (shown once) and what became of the old one. */
export interface RotatedApiKey extends CreatedApiKey {
  readonly previous: ApiKeyInfo;
}

/** One key's requests per UTC hour since a time; hours without requests are zero-filled. */
export interface KeyUsage {
  readonly key: ApiKeyInfo;
  readonly since: Date;
  readonly buckets: readonly UsageBucket[];
}

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

/** Already-settled answers for refusals that need no lookup. */
const REFUSED = {
  missing: Promise.resolve<VerifyResult>(REFUSALS.missing),
  malformed: Promise.resolve<VerifyResult>(REFUSALS.malformed),
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How many candidates an ambiguous prefix reports. */
const MAX_CANDIDATES = 10;
const HOUR_MS = 60 * 60 * 1000;

/**
 * The KeyGuard service: organizations, keys, verification and usage over one store.
 * Every write is validated first, so bad input is refused before anything is stored.
 *
 * @example
 * ```ts
 * const kg = await createKeyGuard({ secretKey: process.env.KEYGUARD_SECRET_KEY });
 * await kg.createOrganization("Acme Corp");
 * const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
 * const result = await kg.verifyKey(rawKey); // { outcome: "valid", key: { label: "prod", ... } }
 * await kg.close();
 * ```
 */
export class KeyGuard {
  readonly config: KeyGuardConfig;
  readonly store: Store;
  readonly clock: Clock;
  /** Turns a socket address and `X-Forwarded-For` into the client limits apply to. */
  readonly clientAddress: ClientAddressResolver;
  /** The client a request is identified as (IP, or IPv6 prefix), per `trustProxy`. */
  readonly clientOf = (request: GuardRequest): string =>
    this.clientAddress(
      request.remoteAddress,
      forwardedForOf((name) => request.header(name)),
    );
  readonly #limiter: Limiter | undefined;
  readonly #ipBlocks: IpBlockService;
  readonly #reportBackgroundError: (error: unknown) => void;
  readonly #hash: KeyHasher;
  readonly #cache: VerificationCache;
  readonly #usage: UsageRecorder;
  readonly #changeFeed: ChangeFeed | undefined;
  readonly #stopListening: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: KeyGuardOptions) {
    this.config = options.config;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.#limiter = options.limiter;
    this.clientAddress = createClientAddressResolver(options.config);
    this.#reportBackgroundError = options.onBackgroundError ?? warnBackgroundError;
    const secret = options.config.secretKey;
    this.#hash = secret === undefined ? secretMissing : createKeyHasher(secret);
    this.#cache = new VerificationCache({ ...options.config.cache, clock: this.clock });
    this.#ipBlocks = new IpBlockService({
      store: this.store,
      clock: this.clock,
      clientAddress: this.clientAddress,
      clientOf: this.clientOf,
      limiter: this.#limiter,
      publish: (change) => this.#publish(change),
      syncIntervalMs: this.config.blockSyncIntervalMs,
      onBackgroundError: (error) => this.#reportBackgroundError(error),
    });
    this.#usage = new UsageRecorder({
      ...options.config.usage,
      write: (events) => this.store.insertUsageEvents(events),
      onError: (error) => this.#reportBackgroundError(error),
    });
    this.#changeFeed = options.changeFeed;
    this.#stopListening = this.#changeFeed?.subscribe((change) => this.#hear(change));
  }

  /** Another process (or this one) changed something this process may have cached. */
  #hear(change: KeyGuardChange): void {
    if (change.kind === "api-key") this.#cache.invalidate(change.keyHash);
    else if (change.kind === "organization") this.#cache.invalidateOrganization(change.id);
    else if (change.kind === "ip-blocks") this.#ipBlocks.hear(change);
    else {
      this.#cache.clear();
      this.#ipBlocks.reload();
    }
  }

  /**
   * Tells every process. The change itself is already stored, so a notice that cannot be
   * sent is reported, not thrown: the others then catch up when their caches expire.
   */
  async #publish(change: KeyGuardChange): Promise<void> {
    if (this.#changeFeed === undefined) return;
    try {
      await this.#changeFeed.publish(change);
    } catch (error) {
      this.#reportBackgroundError(error);
    }
  }

  /** Forgets a key's cached verification here and in every other process. */
  #keyChanged(keyHash: string): Promise<void> {
    this.#cache.invalidate(keyHash);
    return this.#publish({ kind: "api-key", keyHash });
  }

  /** Creates or upgrades the database schema (the seed's `init_db`). Safe to repeat. */
  async init(): Promise<void> {
    await this.store.migrate();
  }

  // ---- organizations -------------------------------------------------------------

  async createOrganization(name: string): Promise<Organization> {
    const organization: Organization = {
      id: randomUUID(),
      name: parseInput(organizationNameSchema, name),
      status: "active",
      createdAt: new Date(this.clock.now()),
    };
    await this.store.insertOrganization(organization);
    return organization;
  }

  listOrganizations(): Promise<Organization[]> {
    return this.store.listOrganizations();
  }

  /** Finds an organization by name, or by id. Throws `organization_not_found`. */
  async getOrganization(nameOrId: string): Promise<Organization> {
    const reference = typeof nameOrId === "string" ? nameOrId.trim() : "";
    const found =
      (reference && (await this.store.findOrganizationByName(reference))) ||
      (UUID.test(reference) ? await this.store.findOrganizationById(reference) : undefined);
    if (!found) {
      throw new KeyGuardError(
        "organization_not_found",
        `No organization named "${reference}". List them with: keyguard list-orgs`,
      );
    }
    return found;
  }

  /** Suspends an organization: its keys are refused until it is reactivated. */
  suspendOrganization(nameOrId: string): Promise<Organization> {
    return this.#setOrganizationStatus(nameOrId, "suspended");
  }

  reactivateOrganization(nameOrId: string): Promise<Organization> {
    return this.#setOrganizationStatus(nameOrId, "active");
  }

  async #setOrganizationStatus(
    nameOrId: string,
    status: OrganizationStatus,
  ): Promise<Organization> {
    const organization = await this.getOrganization(nameOrId);
    const updated = await this.store.updateOrganizationStatus(organization.id, status);
    this.#cache.invalidateOrganization(organization.id);
    await this.#publish({ kind: "organization", id: organization.id });
    if (!updated) throw this.#organizationGone(organization);
    return updated;
  }

  #organizationGone(organization: Organization): KeyGuardError {
    return new KeyGuardError(
      "organization_not_found",
      `Organization "${organization.name}" no longer exists.`,
    );
  }

  // ---- keys ------------------------------------------------------------------------

  /** Creates a key. The returned `rawKey` is the only copy: show it once, then drop it. */
  async createApiKey(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    const { rawKey, key } = this.#newKey(input);
    const organization = await this.getOrganization(input.organization);
    const stored = { ...key, orgId: organization.id };
    await this.store.insertApiKey(stored);
    return { rawKey, key: this.#createdInfo(stored, organization) };
  }

  /**
   * Issues a new raw key with the settings of an existing one (organization, label, limits,
   * scopes, expiry). The old key is revoked at once, or, with `gracePeriodMs`, keeps
   * working until the grace period ends (its expiry is brought forward to then). Both
   * changes happen in one transaction.
   */
  async rotateApiKey(
    reference: string,
    options: { gracePeriodMs?: number } = {},
  ): Promise<RotatedApiKey> {
    const previous = await this.#findKey(reference);
    const now = this.clock.now();
    if (!previous.isActive) {
      throw new KeyGuardError(
        "invalid_input",
        `Key ${previous.prefix} is revoked and cannot be rotated; create a new key instead.`,
      );
    }
    if (previous.expiresAt !== null && previous.expiresAt.getTime() <= now) {
      throw new KeyGuardError(
        "invalid_input",
        `Key ${previous.prefix} has expired and cannot be rotated; create a new key instead.`,
      );
    }
    const grace = options.gracePeriodMs;
    if (grace !== undefined && !(Number.isFinite(grace) && grace > 0)) {
      throw new KeyGuardError("invalid_input", "the grace period must be a positive duration");
    }
    const { rawKey, key } = this.#newKey({
      organization: previous.orgId,
      label: previous.label,
      rateLimitPerMinute: previous.rateLimitPerMinute,
      monthlyLimit: previous.monthlyLimit,
      scopes: previous.scopes,
      expiresAt: previous.expiresAt,
      environment: keyEnvironmentOf(previous.prefix),
    });
    const stored = { ...key, orgId: previous.orgId };
    const graceEnd = grace === undefined ? undefined : new Date(now + grace);
    const patch: ApiKeyPatch =
      graceEnd === undefined
        ? { isActive: false }
        : {
            expiresAt:
              previous.expiresAt !== null && previous.expiresAt < graceEnd
                ? previous.expiresAt
                : graceEnd,
          };
    await this.store.replaceApiKey(stored, previous.id, patch);
    await this.#keyChanged(previous.keyHash);
    const updated = await this.store.findApiKeyById(previous.id);
    return {
      rawKey,
      key: this.#createdInfo(stored, {
        name: previous.organizationName,
        status: previous.organizationStatus,
      }),
      previous: toApiKeyInfo(updated ?? { ...previous, ...patch }),
    };
  }

  /** Validates key settings and generates the raw key; `orgId` is filled in by the caller. */
  #newKey(input: CreateApiKeyInput): { rawKey: string; key: ApiKey } {
    const now = this.clock.now();
    const label = parseInput(keyLabelSchema, input.label);
    const rateLimitPerMinute = parseInput(
      rateLimitSchema,
      input.rateLimitPerMinute ?? this.config.defaultRateLimitPerMinute,
    );
    const monthlyLimit = parseInput(monthlyLimitSchema, input.monthlyLimit ?? null);
    const scopes = parseInput(scopesSchema, input.scopes ?? []);
    const expiresAt = this.#parseExpiry(input.expiresAt ?? null, now);
    const { rawKey, prefix } = generateRawKey(input.environment ?? this.config.keyEnvironment);
    const keyHash = this.#hash(rawKey);
    // A lookup of this hash may have been cached as unknown (a client tried it early).
    this.#cache.invalidate(keyHash);
    return {
      rawKey,
      key: {
        id: randomUUID(),
        orgId: "",
        label,
        prefix,
        keyHash,
        isActive: true,
        scopes,
        rateLimitPerMinute,
        monthlyLimit,
        createdAt: new Date(now),
        expiresAt,
        lastUsedAt: null,
      },
    };
  }

  #createdInfo(key: ApiKey, organization: Pick<Organization, "name" | "status">): ApiKeyInfo {
    return toApiKeyInfo({
      ...key,
      organizationName: organization.name,
      organizationStatus: organization.status,
    });
  }

  /** Keys, masked (no hash, no raw key), oldest first; optionally of one organization. */
  async listApiKeys(filter: { organization?: string } = {}): Promise<ApiKeyInfo[]> {
    const orgId =
      filter.organization === undefined
        ? undefined
        : (await this.getOrganization(filter.organization)).id;
    const keys = await this.store.listApiKeys(orgId === undefined ? {} : { orgId });
    return keys.map(toApiKeyInfo);
  }

  /**
   * Finds a key by id, by display prefix (`kg_live_4Gk9`, or any start of it) or by the
   * raw key itself. A prefix that fits several keys is an `ambiguous_key_reference` error
   * listing them: KeyGuard never guesses which key you meant.
   */
  async getApiKey(reference: string): Promise<ApiKeyInfo> {
    return toApiKeyInfo(await this.#findKey(reference));
  }

  /**
   * Changes a key's label, limits, scopes or expiry. Takes effect in this process at once,
   * and in every other at once with a change feed (Redis), else within `cache.ttlMs`.
   */
  async updateApiKey(reference: string, input: UpdateApiKeyInput): Promise<ApiKeyInfo> {
    const patch: { -readonly [K in keyof ApiKeyPatch]: ApiKeyPatch[K] } = {};
    if (input.label !== undefined) patch.label = parseInput(keyLabelSchema, input.label);
    if (input.rateLimitPerMinute !== undefined) {
      patch.rateLimitPerMinute = parseInput(rateLimitSchema, input.rateLimitPerMinute);
    }
    if (input.monthlyLimit !== undefined) {
      patch.monthlyLimit = parseInput(monthlyLimitSchema, input.monthlyLimit);
    }
    if (input.scopes !== undefined) patch.scopes = parseInput(scopesSchema, input.scopes);
    if (input.expiresAt !== undefined) {
      patch.expiresAt = this.#parseExpiry(input.expiresAt, this.clock.now());
    }
    const key = await this.#findKey(reference);
    if (Object.keys(patch).length === 0) return toApiKeyInfo(key);
    return this.#applyPatch(key, patch);
  }

  /** Revokes a key: refused from now on (everywhere at once with a change feed). */
  async revokeApiKey(reference: string): Promise<ApiKeyInfo> {
    const key = await this.#findKey(reference);
    return this.#applyPatch(key, { isActive: false });
  }

  async #applyPatch(key: StoredApiKey, patch: ApiKeyPatch): Promise<ApiKeyInfo> {
    const updated = await this.store.updateApiKey(key.id, patch);
    await this.#keyChanged(key.keyHash);
    if (!updated)
      throw new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    return toApiKeyInfo(updated);
  }

  async #findKey(reference: string): Promise<StoredApiKey> {
    const ref = typeof reference === "string" ? reference.trim() : "";
    if (ref === "") throw new KeyGuardError("invalid_input", "a key id or prefix is required");
    if (UUID.test(ref)) {
      const byId = await this.store.findApiKeyById(ref.toLowerCase());
      if (byId) return byId;
    } else if (isWellFormedKey(ref)) {
      const byHash = await this.store.findApiKeyByHash(this.#hash(ref));
      if (byHash) return byHash;
    } else if (ref.length <= DISPLAY_PREFIX_LENGTH) {
      const candidates = await this.store.findApiKeysByPrefix(ref, MAX_CANDIDATES + 1);
      if (candidates.length === 1 && candidates[0]) return candidates[0];
      if (candidates.length > 1) throw ambiguous(ref, candidates);
    }
    throw new KeyGuardError(
      "api_key_not_found",
      `No API key matches "${ref.length > 40 ? `${ref.slice(0, 12)}...` : ref}". List keys with: keyguard list-keys`,
    );
  }

  #parseExpiry(expiresAt: Date | null, now: number): Date | null {
    const parsed = parseInput(expiresAtSchema, expiresAt);
    if (parsed !== null && parsed.getTime() <= now) {
      throw new KeyGuardError("invalid_input", "expiresAt must be in the future");
    }
    return parsed;
  }

  // ---- verification ------------------------------------------------------------------

  /**
   * Decides whether a raw key may be used. Junk (wrong length, bad checksum, control
   * characters) is refused without hashing; a key seen recently is answered from the
   * cache without I/O. Throws `database_unavailable` only when the store must be asked
   * and cannot answer.
   */
  verifyKey(rawKey: string | null | undefined): Promise<VerifyResult> {
    // Not `async`: the hot path (a cache hit) then costs one resolved promise, no more.
    if (rawKey === undefined || rawKey === null || rawKey === "") return REFUSED.missing;
    if (!isWellFormedKey(rawKey)) return REFUSED.malformed;
    let keyHash: string;
    try {
      keyHash = this.#hash(rawKey);
    } catch (error) {
      return Promise.reject(error); // no secret configured: reject, never throw synchronously
    }
    const cached = this.#cache.peek(keyHash);
    if (cached !== undefined) return Promise.resolve(this.#decide(cached));
    return this.#cache.resolve(keyHash, this.#loadByHash).then(this.#decide);
  }

  readonly #loadByHash = (keyHash: string) => this.store.findApiKeyByHash(keyHash);

  readonly #decide = (lookup: CachedLookup): VerifyResult => {
    const { key, info } = lookup;
    if (key === undefined) return REFUSALS.unknown;
    if (!key.isActive) return REFUSALS.revoked;
    if (key.expiresAt !== null && key.expiresAt.getTime() <= this.clock.now()) {
      return REFUSALS.expired;
    }
    if (key.organizationStatus !== "active") return REFUSALS.organization_suspended;
    return { outcome: "valid", key: info };
  };

  // ---- usage and stats -----------------------------------------------------------------

  /** Queues a usage event; it is written with the next batch. Never waits, never throws. */
  recordUsage(event: UsageEvent): void {
    this.#usage.record(event);
  }

  /** Writes every queued usage event now. */
  flushUsage(): Promise<void> {
    return this.#usage.flush();
  }

  get usageStats(): UsageRecorderStats {
    return this.#usage.stats;
  }

  /**
   * A key's requests per UTC hour since `since` (queued usage is written first), with
   * hours that saw no requests filled in as zeros.
   */
  async usage(reference: string, options: { since: Date }): Promise<KeyUsage> {
    const key = await this.#findKey(reference);
    await this.#usage.flush();
    const since = options.since;
    const rows = await this.store.usageByHour(key.id, since);
    const byHour = new Map(rows.map((row) => [row.hour.getTime(), row]));
    const buckets: UsageBucket[] = [];
    const first = Math.floor(since.getTime() / HOUR_MS) * HOUR_MS;
    for (let hour = first; hour <= this.clock.now(); hour += HOUR_MS) {
      buckets.push(
        byHour.get(hour) ?? {
          hour: new Date(hour),
          total: 0,
          status2xx: 0,
          status3xx: 0,
          status4xx: 0,
          status5xx: 0,
        },
      );
    }
    return { key: toApiKeyInfo(key), since, buckets };
  }

  /** The seed's statistics. Queued usage is written first, so the numbers are current. */
  async stats(): Promise<KeyGuardStats> {
    await this.#usage.flush();
    const now = this.clock.now();
    const counts = await this.store.countStats(new Date(now - HOUR_MS), new Date(now));
    return {
      organizations: counts.organizations,
      totalKeys: counts.totalKeys,
      activeKeys: counts.activeKeys,
      totalRequests: counts.totalRequests,
      requestsLastHour: counts.requestsSince,
      errorRate: counts.totalRequests === 0 ? 0 : counts.errorRequests / counts.totalRequests,
    };
  }

  /** The limiter behind the request pipeline (throws if none was configured). */
  get limiter(): Limiter {
    if (this.#limiter === undefined) {
      throw new KeyGuardError(
        "invalid_config",
        "This KeyGuard has no limiter: create it with createKeyGuard(), or pass `limiter` (e.g. new MemoryLimiter() from @keyguard/limiter-memory).",
      );
    }
    return this.#limiter;
  }

  /**
   * The request pipeline for a set of routes: what every adapter runs. Options are
   * checked here, once, so a misconfiguration fails at start-up.
   */
  guard(options: GuardOptions = {}): RequestGuard {
    return new RequestGuard(this, this.limiter, options);
  }

  // ---- IP blocks (see blocks/ip-block-service.ts) ------------------------------------------

  /**
   * Blocks a client: everywhere KeyGuard protects (`scope: "global"`, the default) or on one
   * path. Stored in the database, so it survives restarts and reaches every process.
   *
   * @example
   * ```ts
   * await kg.blockIp("203.0.113.7", { duration: "1 hour" });
   * await kg.blockIp("203.0.113.7", { duration: 600, scope: "path", path: "/api/withdraw" });
   * ```
   */
  blockIp(ip: string, options: BlockOptions = {}): Promise<IpBlock> {
    return this.#ipBlocks.blockIp(ip, options);
  }

  /** Blocks the client of a request (the seed's `block_request`), as the pipeline sees it. */
  blockRequest(request: GuardRequest, options: BlockOptions = {}): Promise<IpBlock> {
    return this.#ipBlocks.blockRequest(request, options);
  }

  /** Lifts every block on an IP (manual, automatic and lockouts); true if there was one. */
  unblockIp(ip: string): Promise<boolean> {
    return this.#ipBlocks.unblockIp(ip);
  }

  /** Blocks in force: the stored manual ones and the limiter's (automatic ones, lockouts). */
  listBlocks(): Promise<IpBlock[]> {
    return this.#ipBlocks.listBlocks();
  }

  /** The manual block covering `client` on `path` now, from memory (no I/O). */
  findManualBlock(client: string, path: string, now: number): IpBlock | undefined {
    return this.#ipBlocks.findManualBlock(client, path, now);
  }

  /** Starts keeping manual blocks in step with the store; resolves once loaded. Idempotent. */
  syncBlocks(): Promise<void> {
    return this.#ipBlocks.sync();
  }

  /**
   * A per-client limit for routes without API keys (the seed's `rate_limit_by_ip`), with
   * optional lockouts. Adapters wrap it as `rateLimitByIp(kg, rule)`.
   */
  ipRateLimit(rule: IpRateLimitRule): IpRateLimit {
    return new IpRateLimit(this, rule);
  }

  /** Writes queued usage and closes the store, limiter and change feed. Safe to repeat. */
  close(): Promise<void> {
    this.#ipBlocks.stopSync();
    this.#stopListening?.();
    this.#closing ??= (async () => {
      // Every step runs even if an earlier one fails (usage first: it needs the store);
      // the first failure is reported.
      const steps = [
        () => this.#usage.close(),
        () => this.#changeFeed?.close(),
        () => this.#limiter?.close(),
        () => this.store.close(),
      ];
      let failure: { error: unknown } | undefined;
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure !== undefined) throw failure.error;
    })();
    return this.#closing;
  }
}

/** The hasher of a KeyGuard built without a secret (read-only tooling). */
const secretMissing: KeyHasher = () => {
  throw new KeyGuardError(
    "invalid_config",
    "This needs the secret key (it hashes raw keys): set KEYGUARD_SECRET_KEY or pass --secret.",
  );
};

function ambiguous(reference: string, candidates: readonly StoredApiKey[]): KeyGuardError {
  const shown = candidates.slice(0, MAX_CANDIDATES).map((key) => ({
    id: key.id,
    prefix: key.prefix,
    label: key.label,
    organization: key.organizationName,
  }));
  const list = shown
    .map((c) => `${c.prefix} (${c.label}, ${c.organization}, id ${c.id})`)
    .join("; ");
  const more = candidates.length > MAX_CANDIDATES ? " and more" : "";
  return new KeyGuardError(
    "ambiguous_key_reference",
    `"${reference}" matches several keys: ${list}${more}. Use the key's id instead.`,
    { details: { candidates: shown } },
  );
}
