import type { Registry } from "prom-client";
import { type BlockOptions, IpBlockService } from "./blocks/ip-block-service.js";
import { VerificationCache } from "./cache/verification-cache.js";
import type { KeyGuardConfig } from "./config/keyguard-config.js";
import { type ApiKeyInfo, toApiKeyInfo } from "./domain/api-key.js";
import type { IpRule, IpRuleAction } from "./domain/ip-rule.js";
import type { CreditBalance } from "./domain/key-credits.js";
import type { Organization } from "./domain/organization.js";
import type { KeyGuardStats } from "./domain/stats.js";
import type { UsageEvent } from "./domain/usage-event.js";
import { isKeyGuardError, KeyGuardError } from "./errors/keyguard-error.js";
import { runAsActor } from "./events/actor-context.js";
import { type AuditEventQuery, parseAuditEventQuery } from "./events/audit-event-query.js";
import { AuditRetention } from "./events/audit-retention.js";
import { actorOf, type EventActor } from "./events/event-actor.js";
import { EventRecorder } from "./events/event-recorder.js";
import { type EventListener, EventSubscribers } from "./events/event-subscribers.js";
import type { KeyGuardEvent } from "./events/keyguard-event.js";
import { type IpRuleInput, IpRuleService } from "./ip-rules/ip-rule-service.js";
import { allowedIpsContain } from "./ip-rules/key-allowed-ips.js";
import {
  type ApiKeyListing,
  ApiKeyService,
  type CreateApiKeyInput,
  type CreatedApiKey,
  type RevokeOutcome,
  type RotatedApiKey,
  type UpdateApiKeyInput,
} from "./keys/api-key-service.js";
import { ImportedKeyLookup } from "./keys/imported-key-lookup.js";
import { isLegacyHashScheme } from "./keys/key-hash-scheme.js";
import { createKeyHasher, type KeyHasher } from "./keys/key-hasher.js";
import { KeyVerifier, type VerifyResult } from "./keys/key-verifier.js";
import type { ConcurrencySpec, LimitSpec } from "./limits/limit-policy.js";
import { type KeyLimitStatus, LiveLimits } from "./limits/live-limits.js";
import type { ShadowRefusal } from "./limits/shadow-refusal.js";
import { instrumentLimiter, instrumentStore } from "./metrics/instrumented-ports.js";
import { KeyGuardInstruments } from "./metrics/keyguard-instruments.js";
import { createPrometheusRegistry } from "./metrics/prometheus-registry.js";
import { OrganizationService } from "./organizations/organization-service.js";
import {
  type ClientAddressResolver,
  createClientAddressResolver,
  forwardedForOf,
} from "./pipeline/client-address.js";
import type { GuardContext } from "./pipeline/guard-context.js";
import type { GuardRequest } from "./pipeline/guard-request.js";
import { IpRateLimit, type IpRateLimitRule } from "./pipeline/ip-rate-limit.js";
import { type GuardOptions, RequestGuard } from "./pipeline/request-guard.js";
import { trustsNoProxy } from "./pipeline/trusted-proxies.js";
import type { ChangeFeed, KeyGuardChange } from "./ports/change-feed.js";
import type { IpBlock, Limiter } from "./ports/limiter.js";
import type { OrganizationKeyCounts, OrganizationListFilter, Store } from "./ports/store.js";
import { checkSecrets, type SecretCheck } from "./secrets/secret-check.js";
import { secretFingerprint, shortFingerprint } from "./secrets/secret-fingerprint.js";
import type { KeyUsage } from "./usage/key-usage.js";
import { UsageMaintenance, type UsageMaintenanceTotals } from "./usage/usage-maintenance.js";
import { TOP_KEYS, type UsageOverview } from "./usage/usage-overview.js";
import { UsageRecorder, type UsageRecorderStats } from "./usage/usage-recorder.js";
import { checkReportStart, fillHours } from "./usage/usage-report.js";
import type { UsageSpool } from "./usage/usage-spool.js";
import {
  type ErrorReporter,
  rateLimitErrors,
  warnBackgroundError,
} from "./util/background-error.js";
import { type Clock, systemClock } from "./util/clock.js";
import { webhookConfigSchema } from "./webhooks/webhook-config.js";
import { Webhooks } from "./webhooks/webhooks.js";

export interface KeyGuardOptions {
  /** A validated configuration (see `resolveConfig`). */
  readonly config: KeyGuardConfig;
  readonly store: Store;
  /** Time source; tests pass a fake one. */
  readonly clock?: Clock;
  /**
   * Told about failures: off the request path (a usage batch that failed) and on it (a
   * store or limiter error a request was answered 503 for, or let through by `failOpen`).
   * Rate limited per kind of error (see `rateLimitErrors`): the first of each kind at once,
   * then at most one `SuppressedErrors` summary per minute. Default: a process warning.
   */
  readonly onBackgroundError?: (error: unknown) => void;
  /**
   * Told, once per KeyGuard, about a likely misconfiguration seen in traffic (code
   * `KEYGUARD_UNTRUSTED_FORWARDED_FOR`: requests carry `X-Forwarded-For` but `trustProxy`
   * is off). Default: `process.emitWarning(message, { code })`.
   */
  readonly onWarning?: (code: string, message: string) => void;
  /**
   * Told each time a shadow policy (`mode: "shadow"`) would have refused a request it let
   * through, so a limit can be tried on live traffic first. Counted in `stats()` too.
   */
  readonly onShadowRefusal?: (refusal: ShadowRefusal) => void;
  /** Rate limits and IP blocks for the request pipeline (`guard()`). */
  readonly limiter?: Limiter;
  /**
   * Tells other processes about revoked or changed keys, suspended organizations and IP
   * blocks, and hears theirs (Redis pub/sub: `@keyguard/limiter-redis`). Without one,
   * other processes see a change once their cached copy expires (`cache.ttlMs`).
   */
  readonly changeFeed?: ChangeFeed;
  /**
   * Where usage goes when the store is unreachable at `close()`, replayed by `init()`
   * (`createKeyGuard` sets one up for the database it opens: see `usageSpoolFor`).
   */
  readonly usageSpool?: UsageSpool;
}

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
  /** The store, each call timed and its failures counted (see `instruments`). */
  readonly store: Store;
  readonly clock: Clock;
  /**
   * KeyGuard's counters and histograms (decisions, cache, store and limiter calls, usage,
   * webhook deliveries, Redis scripts), recorded without allocation on the request path.
   * Read them through {@link metrics} (Prometheus) or `reportToOpenTelemetry`.
   */
  readonly instruments = new KeyGuardInstruments();
  /** Turns a socket address and `X-Forwarded-For` into the client limits apply to. */
  readonly clientAddress: ClientAddressResolver;
  /**
   * The client a request is identified as (IP, or IPv6 prefix), per `trustProxy`. Every
   * entry point (`guard()`, `rateLimitByIp`, `blockRequest`, the admin API) asks here, so
   * ignored forwarded headers are noticed whichever of them an app uses.
   */
  readonly clientOf = (request: GuardRequest): string => {
    const forwardedFor = forwardedForOf((name) => request.header(name));
    if (forwardedFor !== undefined && !this.#forwardedForNoticed) {
      this.#forwardedForNoticed = true;
      this.#warn(
        "KEYGUARD_UNTRUSTED_FORWARDED_FOR",
        `Requests carry X-Forwarded-For but trustProxy is off, so clients are identified by the socket address (${this.clientAddress(request.remoteAddress, undefined)}). Behind a proxy or load balancer every client then shares one IP's limits and blocks: set trustProxy to the number of proxy hops or their addresses.`,
      );
    }
    return this.clientAddress(request.remoteAddress, forwardedFor);
  };
  /** Whether there is nothing (left) to warn about forwarded headers: once per KeyGuard. */
  #forwardedForNoticed: boolean;
  readonly #warn: (code: string, message: string) => void;
  readonly #limiter: Limiter | undefined;
  readonly #ipBlocks: IpBlockService;
  readonly #ipRules: IpRuleService;
  readonly #reportBackgroundError: ErrorReporter;
  readonly #hash: KeyHasher;
  /** Hashers of `previousSecretKeys`, tried in order for a key the current secret does not know. */
  readonly #previousHashes: readonly KeyHasher[];
  /** Verified keys, invalidated here when a change (ours or the feed's) reaches this process. */
  readonly #cache: VerificationCache;
  /** Keys in other systems' formats (imported); undefined when the store cannot hold them. */
  readonly #importedKeys: ImportedKeyLookup | undefined;
  readonly #verifier: KeyVerifier;
  readonly #usage: UsageRecorder;
  readonly #usageSpool: UsageSpool | undefined;
  readonly #usageMaintenance: UsageMaintenance;
  readonly #organizations: OrganizationService;
  readonly #keys: ApiKeyService;
  readonly #changeFeed: ChangeFeed | undefined;
  /** Webhook endpoints, and (in servers, from `guard()`) their delivery. */
  readonly webhooks: Webhooks;
  readonly #subscribers: EventSubscribers;
  readonly #events: EventRecorder;
  readonly #auditRetention: AuditRetention;
  readonly #stopListening: (() => void) | undefined;
  readonly #liveLimits: LiveLimits;
  #closing: Promise<void> | undefined;

  /** Requests shadow policies would have refused, in this process (see `stats()`). */
  #shadowRefusals = 0;
  readonly #onShadowRefusal: ((refusal: ShadowRefusal) => void) | undefined;

  constructor(options: KeyGuardOptions) {
    this.#onShadowRefusal = options.onShadowRefusal;
    this.config = options.config;
    this.store = instrumentStore(options.store, this.instruments);
    this.clock = options.clock ?? systemClock;
    this.#limiter =
      options.limiter === undefined
        ? undefined
        : instrumentLimiter(options.limiter, this.instruments);
    this.clientAddress = createClientAddressResolver(options.config);
    this.#forwardedForNoticed = !trustsNoProxy(options.config.trustProxy);
    this.#warn = options.onWarning ?? ((code, message) => process.emitWarning(message, { code }));
    this.#reportBackgroundError = rateLimitErrors(
      options.onBackgroundError ?? warnBackgroundError,
      {
        clock: this.clock,
      },
    );
    const secret = options.config.secretKey;
    this.#hash =
      secret === undefined
        ? secretMissing
        : createKeyHasher(secret, options.config.cache.maxEntries);
    this.#previousHashes = (options.config.previousSecretKeys ?? []).map((previous) =>
      createKeyHasher(previous, options.config.cache.maxEntries),
    );
    this.#cache = new VerificationCache({
      ...options.config.cache,
      clock: this.clock,
      // A refresh cut short by close() (the store shutting down) is not worth reporting.
      onRefreshError: (error) => {
        if (this.#closing === undefined) this.#reportBackgroundError(error);
      },
    });
    this.#subscribers = new EventSubscribers((error) => this.#reportBackgroundError(error));
    this.#events = new EventRecorder({ clock: this.clock, subscribers: this.#subscribers });
    this.#auditRetention = new AuditRetention({
      ...options.config.audit,
      store: this.store,
      clock: this.clock,
      onError: (error) => this.#reportBackgroundError(error),
    });
    this.#importedKeys = ImportedKeyLookup.supports(this.store)
      ? new ImportedKeyLookup({
          store: this.store,
          hash: this.#hash,
          previousHashes: this.#previousHashes,
          legacySecret: options.config.legacySecret,
          clock: this.clock,
          refreshMs: options.config.cache.ttlMs,
          retryMs: options.config.cache.negativeTtlMs,
        })
      : undefined;
    this.#verifier = new KeyVerifier({
      cache: this.#cache,
      hash: this.#hash,
      previousHashes: this.#previousHashes,
      importedKeys: this.#importedKeys,
      load: (keyHash) => this.store.findApiKeyByHash(keyHash),
      clock: this.clock,
      instruments: this.instruments,
    });
    this.#liveLimits = new LiveLimits({
      limiter: this.#limiter,
      store: this.store,
      clock: this.clock,
      algorithm: this.config.algorithm,
      reportError: (error) => this.#reportBackgroundError(error),
    });
    this.#ipBlocks = new IpBlockService({
      store: this.store,
      clock: this.clock,
      events: this.#events,
      clientAddress: this.clientAddress,
      clientOf: this.clientOf,
      limiter: this.#limiter,
      publish: (change) => this.#publish(change),
      syncIntervalMs: this.config.blockSyncIntervalMs,
      onBackgroundError: (error) => this.#reportBackgroundError(error),
    });
    this.#ipRules = new IpRuleService({
      store: this.store,
      clock: this.clock,
      events: this.#events,
      configured: this.config.ipRules,
      trustProxy: this.config.trustProxy,
      publish: (change) => this.#publish(change),
      syncIntervalMs: this.config.blockSyncIntervalMs,
      onBackgroundError: (error) => this.#reportBackgroundError(error),
    });
    this.#usage = new UsageRecorder({
      ...options.config.usage,
      write: (events) => this.store.insertUsageEvents(events),
      onError: (error) => this.#reportBackgroundError(error),
    });
    this.instruments.readUsage(() => this.#usage.stats);
    this.#usageSpool = options.usageSpool;
    this.#usageMaintenance = new UsageMaintenance({
      ...options.config.usage,
      store: this.store,
      clock: this.clock,
      onError: (error) => this.#reportBackgroundError(error),
    });
    this.#organizations = new OrganizationService({
      store: this.store,
      clock: this.clock,
      events: this.#events,
      organizationChanged: (id) => {
        this.#cache.invalidateOrganization(id);
        return this.#publish({ kind: "organization", id });
      },
    });
    this.#keys = new ApiKeyService({
      store: this.store,
      clock: this.clock,
      config: this.config,
      hash: this.#hash,
      events: this.#events,
      previousHashes: this.#previousHashes,
      organizations: this.#organizations,
      forget: (keyHash) => this.#cache.invalidate(keyHash),
      keyChanged: (keyHash) => this.#keyChanged(keyHash),
      findImported: (rawKey) => this.#verifier.findImported(rawKey),
    });
    this.webhooks = new Webhooks({
      store: this.store.webhooks,
      // A configuration built by hand (not by resolveConfig) may have no webhooks section.
      config: this.config.webhooks ?? webhookConfigSchema.parse({}),
      serverSecrets: [
        ...(secret === undefined ? [] : [secret]),
        ...(options.config.previousSecretKeys ?? []),
      ],
      clock: this.clock,
      events: this.#events,
      onError: (error) => this.#reportBackgroundError(error),
      recordResult: (result) => this.instruments.webhookDelivery(result),
    });
    this.#changeFeed = options.changeFeed;
    this.#stopListening = this.#changeFeed?.subscribe((change) => this.#hear(change));
  }

  /** Another process (or this one) changed something this process may have cached. */
  #hear(change: KeyGuardChange): void {
    if (change.kind === "api-key") this.#cache.invalidate(change.keyHash);
    else if (change.kind === "organization") this.#cache.invalidateOrganization(change.id);
    else if (change.kind === "ip-blocks") this.#ipBlocks.hear(change);
    else if (change.kind === "ip-rules") this.#ipRules.hear(change);
    else {
      // Every cached key is re-read before it is trusted again (stale-if-error still
      // answers for it while the store cannot), and the stored blocks are read again.
      this.#cache.expireAll();
      this.#ipBlocks.resync();
      this.#ipRules.hear();
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

  /**
   * Creates or upgrades the database schema (keyguard-python's `init_db`); then, with a secret
   * configured, checks it is the one the database's keys are hashed with (a database that
   * records none adopts it, and says so through `onWarning` when it already holds keys):
   * `secret_mismatch` otherwise; then writes usage a previous process spooled because the
   * store was unreachable when it stopped. Safe to repeat.
   */
  async init(): Promise<void> {
    await this.store.migrate();
    await this.checkSecret();
    await this.#importedKeys?.prime();
    await this.#replayUsageSpool();
  }

  /**
   * Checks the configured secret (and `previousSecretKeys`) against the fingerprints the
   * database records; see {@link init}. `undefined` without a secret or without store
   * support.
   */
  async checkSecret(): Promise<SecretCheck | undefined> {
    const secret = this.config.secretKey;
    if (secret === undefined) return undefined;
    const now = new Date(this.clock.now());
    const check = await checkSecrets(this.store, secret, this.config.previousSecretKeys ?? [], now);
    if (check?.adopted) {
      const hmacKeys = await this.#countHmacKeys(now);
      if (hmacKeys > 0) {
        this.#warn(
          "KEYGUARD_SECRET_ADOPTED",
          `This database recorded no secret; it now records the configured one (fingerprint ${shortFingerprint(secretFingerprint(secret))}) and refuses any other from now on. Its ${hmacKeys} existing key(s) work only if they were made with this secret.`,
        );
      }
    }
    return check;
  }

  /**
   * Keys whose stored hash is an HMAC under some secret: the ones a newly adopted secret
   * may not match. Imported keyguard-python and plain SHA-256 hashes do not depend on it.
   */
  async #countHmacKeys(now: Date): Promise<number> {
    const bySchemes = await this.store.countKeysByHashScheme?.();
    if (bySchemes === undefined) return (await this.store.countStats(now, now)).totalKeys;
    return bySchemes
      .filter(({ scheme }) => scheme === "hmac-sha256" || scheme === "imported-hmac-sha256")
      .reduce((sum, { keys }) => sum + keys, 0);
  }

  /**
   * Changes the secret that hashes new keys, deliberately. A stored key hash cannot be
   * recomputed (the raw key is never kept), so keys made until now keep working only where
   * the old secret is configured as a previous one (`previousSecretKeys`, tried after the
   * new secret) until each is rotated (`rotateApiKey`). The database then expects
   * `newSecret`: servers still configured with the old one refuse to start (and to create
   * keys) until their configuration is changed. This KeyGuard keeps its configuration:
   * create a new one with the new secret to go on.
   */
  async rotateSecret(newSecret: string): Promise<SecretRotation> {
    const secret = this.config.secretKey;
    if (secret === undefined) {
      throw new KeyGuardError(
        "invalid_config",
        "Rotating the secret needs the current secret key.",
        {
          details: { field: "secretKey" },
        },
      );
    }
    if (typeof newSecret !== "string" || newSecret.length < 8) {
      throw new KeyGuardError(
        "invalid_input",
        "newSecret must be at least 8 characters; use a long random value",
        { details: { field: "newSecret" } },
      );
    }
    if (newSecret === secret) {
      throw new KeyGuardError("invalid_input", "newSecret is the current secret already", {
        details: { field: "newSecret" },
      });
    }
    const store = this.store;
    if (store.rotateSecretFingerprint === undefined) {
      throw new KeyGuardError(
        "invalid_config",
        `This store (${store.dialect}) records no secret fingerprints.`,
      );
    }
    await this.checkSecret(); // the current secret is the database's (adopted if it had none)
    const previous = secretFingerprint(secret);
    const next = secretFingerprint(newSecret);
    const rotatedAt = new Date(this.clock.now());
    if (!(await store.rotateSecretFingerprint(previous, next, rotatedAt))) {
      throw new KeyGuardError(
        "secret_mismatch",
        "The database's secret changed while rotating (another rotation ran at the same time): nothing was changed here.",
      );
    }
    const counts = await store.countStats(rotatedAt, rotatedAt);
    return {
      fingerprint: next,
      previousFingerprint: previous,
      rotatedAt,
      keysToRotate: counts.activeKeys,
    };
  }

  /** Spooled usage into the store, exactly once (the rows keep their ids); one log line. */
  async #replayUsageSpool(): Promise<void> {
    const spool = this.#usageSpool;
    if (spool === undefined) return;
    try {
      const replayed = await spool.replay(
        (events) => this.store.insertUsageEvents(events),
        this.config.usage.batchSize,
      );
      if (replayed.ignoredFiles > 0) {
        this.#reportBackgroundError(
          new Error(
            `${replayed.ignoredFiles} usage spool file(s) not replayed: not written by this user, or writable by others (${spool.location}): give them to this user with mode 0600 to have them replayed, or remove them.`,
          ),
        );
      }
      if (replayed.files === 0) return;
      this.#warn(
        "KEYGUARD_USAGE_SPOOL_REPLAYED",
        `Usage spool replayed: ${replayed.rows} rows (${replayed.requests} requests) from ${replayed.files} file(s) written to the store${replayed.skippedLines > 0 ? `, ${replayed.skippedLines} unreadable line(s) skipped` : ""}${replayed.refusedRows > 0 ? `, ${replayed.refusedRows} row(s) the store refused were dropped` : ""} (${spool.location}).`,
      );
    } catch (error) {
      // The files stay for the next start; this start goes on.
      this.#reportBackgroundError(
        new Error(`Spooled usage could not be written yet (${spool.location}).`, {
          cause: error,
        }),
      );
    }
  }

  // ---- the event stream and the audit log (see events/) -------------------------------

  /**
   * This process's event stream: each change made through this KeyGuard, told to
   * subscribers once its transaction committed (every process's changes are in the audit
   * log: {@link listAuditEvents}).
   *
   * @example
   * const stop = kg.events.subscribe((event) => console.log(event.action, event.targetId));
   */
  get events(): { subscribe(listener: EventListener): () => void } {
    return this.#subscribers;
  }

  /**
   * The audit log: every change, through any door, oldest first; filtered by action,
   * target and time, a page at a time (`afterId`: the last id read).
   *
   * @example
   * const revocations = await kg.listAuditEvents({ action: "key.revoked", since, limit: 100 });
   */
  listAuditEvents(query: AuditEventQuery = {}): Promise<KeyGuardEvent[]> {
    try {
      return this.store.listAuditEvents(parseAuditEventQuery(query));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes audit events older than `audit.retentionDays` now (servers also do it every
   * `audit.maintenanceIntervalMs`); how many were deleted.
   */
  maintainAuditLog(): Promise<number> {
    return this.#auditRetention.run();
  }

  /**
   * This KeyGuard, with every change made through it attributed to `actor` in the audit
   * log: a name (`"billing-job"`, a `code` actor) or `{ type, name }` (the admin API and
   * the CLI use `admin_api` with the client's address and `cli` with the OS user). The
   * returned object shares everything with this one (caches, store, subscribers); only
   * the attribution differs.
   *
   * @example
   * await kg.withActor("billing-job").updateApiKey(id, { monthlyLimit: 50_000 });
   */
  withActor(actor: string | EventActor): KeyGuard {
    const as = actorOf(actor);
    const facade: object = this;
    const acting = <T extends object>(object: T): T =>
      new Proxy(object, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property, target);
          // `kg.webhooks` makes changes of its own (endpoints): its calls act as `as` too.
          if (property === "webhooks" && target === facade) return acting(value as object);
          if (typeof value !== "function" || property === "constructor") return value;
          return (...args: unknown[]) =>
            runAsActor(as, () => (value as (...a: unknown[]) => unknown).apply(target, args));
        },
      });
    return acting(this);
  }

  // ---- organizations (see organizations/organization-service.ts) --------------------

  createOrganization(name: string): Promise<Organization> {
    return this.#organizations.create(name);
  }

  /** Oldest first; optionally of one status, and a page at a time (see `ListPage`). */
  listOrganizations(filter: OrganizationListFilter = {}): Promise<Organization[]> {
    return this.#organizations.list(filter);
  }

  /**
   * How many keys each of `orgIds` has, and how many of them are active (neither revoked
   * nor expired): one query for a page of organizations. `undefined` when the store cannot
   * count them.
   */
  async countKeysByOrganization(
    orgIds: readonly string[],
  ): Promise<ReadonlyMap<string, OrganizationKeyCounts> | undefined> {
    return this.store.countKeysByOrganization?.(orgIds, new Date(this.clock.now()));
  }

  /** Finds an organization by name, or by id. Throws `organization_not_found`. */
  getOrganization(nameOrId: string): Promise<Organization> {
    return this.#organizations.get(nameOrId);
  }

  /** Suspends an organization: its keys are refused until it is reactivated. */
  suspendOrganization(nameOrId: string): Promise<Organization> {
    return this.#organizations.suspend(nameOrId);
  }

  reactivateOrganization(nameOrId: string): Promise<Organization> {
    return this.#organizations.reactivate(nameOrId);
  }

  /** Replaces the windows all of an organization's keys share (`[]`: none). */
  setOrganizationLimits(nameOrId: string, limits: readonly LimitSpec[]): Promise<Organization> {
    return this.#organizations.setLimits(nameOrId, limits);
  }

  /**
   * Caps the requests in flight at once across all of an organization's keys (policy
   * `org.concurrency`; `null` removes the cap). In force at once, as `setOrganizationLimits`.
   */
  setOrganizationConcurrency(
    nameOrId: string,
    concurrency: ConcurrencySpec | null,
  ): Promise<Organization> {
    return this.#organizations.setConcurrency(nameOrId, concurrency);
  }

  // ---- keys (see keys/api-key-service.ts) ------------------------------------------------

  /**
   * Creates a key. The returned `rawKey` is the only copy: show it once, then drop it.
   * Refused (`secret_mismatch`) if another process rotated the secret since this one
   * started: a key hashed with a retired secret would work only as long as it is kept.
   */
  async createApiKey(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    await this.#secretStillCurrent();
    return this.#keys.create(input);
  }

  /**
   * Issues a new raw key with the settings and monthly quota of an existing one (the new
   * key continues the month's count); the old key is revoked at once or, with
   * `gracePeriodMs`, expires when the grace period ends. One transaction, decided by the
   * database: a key is rotated once, and a second rotation (also one racing the first, from
   * any process) throws `key_already_rotated`; a revoked or expired key, `conflict`.
   *
   * @example
   * const { rawKey, key, previous } = await kg.rotateApiKey(id, { gracePeriodMs: 86_400_000 });
   */
  async rotateApiKey(
    reference: string,
    options: { gracePeriodMs?: number } = {},
  ): Promise<RotatedApiKey> {
    await this.#secretStillCurrent();
    return this.#keys.rotate(reference, options);
  }

  /** One read before a new key is hashed (never on the request path). */
  async #secretStillCurrent(): Promise<void> {
    const secret = this.config.secretKey;
    if (secret === undefined || this.store.readSecretFingerprints === undefined) return;
    const { current } = await this.store.readSecretFingerprints();
    if (current !== undefined && current.fingerprint !== secretFingerprint(secret)) {
      await this.checkSecret(); // throws the explanation
    }
  }

  /**
   * Keys, masked (no hash, no raw key), oldest first; optionally of one organization (name
   * or id), in one state now, and a page at a time (see `ListPage`).
   */
  listApiKeys(filter: ApiKeyListing = {}): Promise<ApiKeyInfo[]> {
    return this.#keys.list(filter);
  }

  /**
   * Finds a key by id, by display prefix (`kg_live_4Gk9`, or any start of it) or by the
   * raw key itself. A prefix that fits several keys is an `ambiguous_key_reference` error
   * listing them: KeyGuard never guesses which key you meant.
   */
  getApiKey(reference: string): Promise<ApiKeyInfo> {
    return this.#keys.get(reference);
  }

  /**
   * Changes a key's label, limits, scopes or expiry. Takes effect in this process at once,
   * and in every other at once with a change feed (Redis), else within `cache.ttlMs`.
   * A revoked key throws `conflict`, a rotated one `key_already_rotated`.
   */
  updateApiKey(reference: string, input: UpdateApiKeyInput): Promise<ApiKeyInfo> {
    return this.#keys.update(reference, input);
  }

  /**
   * Adds `amount` credits to a key's balance, at once in every process (a key change).
   * Concurrent top-ups all count. Audited as `key.credits_added`. Refused (`conflict`) for
   * a key without credits or a revoked one, `key_already_rotated` for a rotated one.
   */
  addCredits(reference: string, amount: number): Promise<ApiKeyInfo> {
    return this.#keys.addCredits(reference, amount);
  }

  /**
   * Where a key's credits stand: the current balance period's credits and what is left of
   * them. What is left is the larger spending of two: the store's (usage batches written so
   * far) and, when this KeyGuard has a limiter, the limiter's live count (exact with Redis,
   * this process's with the memory limiter). `undefined` for a key without credits.
   */
  creditBalance(key: ApiKeyInfo): Promise<CreditBalance | undefined> {
    return this.#liveLimits.creditBalance(key);
  }

  /**
   * Where each of a key's policies stands now, read without spending: its windows (the
   * limiter's live counts, `null` without a limiter), its month and credits (never less
   * spent than the store recorded), its concurrency caps (always `null` remaining). The
   * windows that name no algorithm are read with the configured `algorithm` (a guard that
   * overrides it keeps counters of its own, which this does not read).
   */
  limitStatus(key: ApiKeyInfo): Promise<KeyLimitStatus> {
    return this.#liveLimits.of(key);
  }

  /**
   * Revokes a key: refused from now on (everywhere at once with a change feed). Revoking a
   * revoked key changes nothing and returns it as it is; {@link revokeApiKeyOutcome} says
   * which happened.
   */
  async revokeApiKey(reference: string): Promise<ApiKeyInfo> {
    return (await this.#keys.revoke(reference)).key;
  }

  /**
   * {@link revokeApiKey}, telling whether the key was already revoked (then nothing was
   * written or announced). The database decides: of several revocations at once, exactly
   * one reports `alreadyRevoked: false`.
   *
   * @example
   * const { key, alreadyRevoked } = await kg.revokeApiKeyOutcome("kg_live_4Gk9");
   */
  revokeApiKeyOutcome(reference: string): Promise<RevokeOutcome> {
    return this.#keys.revoke(reference);
  }

  // ---- verification (keys/key-verifier.ts) ------------------------------------------

  /**
   * Decides whether a raw key may be used. Junk (wrong length, bad checksum, control
   * characters) is refused without hashing; a key seen recently is answered from the
   * cache without I/O. Throws `database_unavailable` only when the store must be asked
   * and cannot answer.
   */
  verifyKey(rawKey: string | null | undefined): Promise<VerifyResult> {
    return this.#verifier.verify(rawKey);
  }

  // ---- usage and stats -----------------------------------------------------------------

  /** Queues a usage event; it is written with the next batch. Never waits, never throws. */
  recordUsage(event: UsageEvent): void {
    this.#usage.record(event);
  }

  /** Writes every queued usage event now. */
  flushUsage(): Promise<void> {
    return this.#usage.flush();
  }

  /**
   * Rolls up and deletes old usage now (servers also do it every
   * `usage.maintenanceIntervalMs`, see `UsageMaintenance`); what it did, in rows.
   */
  maintainUsage(): Promise<UsageMaintenanceTotals> {
    return this.#usageMaintenance.run();
  }

  get usageStats(): UsageRecorderStats {
    return this.#usage.stats;
  }

  /**
   * Every key's requests per UTC hour since `since` (queued usage is written first; hours
   * without requests as zeros), and the keys with the most requests in that time: what the
   * dashboard's overview and admin `GET /usage` show.
   */
  async usageOverview(options: { since: Date }): Promise<UsageOverview> {
    const since = checkReportStart(options.since, this.clock.now());
    await this.#usage.flush();
    const stored = await this.store.usageOverview(since, TOP_KEYS);
    const topKeys = [];
    for (const { keyId, requests } of stored.topKeys) {
      // A key deleted meanwhile (never, today: keys are revoked, not deleted) is left out.
      const key = await this.#keys.get(keyId).catch(() => undefined);
      if (key !== undefined) topKeys.push({ key, requests });
    }
    const hours = fillHours(stored.hours, since, this.clock.now(), (hour) => ({
      hour,
      total: 0,
      status2xx: 0,
      status3xx: 0,
      status4xx: 0,
      status429: 0,
      status5xx: 0,
    }));
    return { since, hours, topKeys };
  }

  /**
   * A key's requests per UTC hour since `since` (queued usage is written first), with
   * hours that saw no requests filled in as zeros.
   */
  async usage(reference: string, options: { since: Date }): Promise<KeyUsage> {
    const since = checkReportStart(options.since, this.clock.now());
    const key = await this.#keys.find(reference);
    await this.#usage.flush();
    const rows = await this.store.usageByHour(key.id, since);
    const buckets = fillHours(rows, since, this.clock.now(), (hour) => ({
      hour,
      total: 0,
      status2xx: 0,
      status3xx: 0,
      status4xx: 0,
      status5xx: 0,
    }));
    return { key: toApiKeyInfo(key), since, buckets };
  }

  /** keyguard-python's statistics. Queued usage is written first, so the numbers are current. */
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
      legacyHashKeys: await this.#countLegacyHashKeys(),
      previousSecretKeys: await this.#countPreviousSecretKeys(now),
      shadowRefusals: this.#shadowRefusals,
    };
  }

  /** Counts a shadow policy's would-be refusal and tells `onShadowRefusal`. */
  countShadowRefusal(refusal: ShadowRefusal): void {
    this.#shadowRefusals++;
    if (this.#onShadowRefusal === undefined) return;
    try {
      this.#onShadowRefusal(refusal);
    } catch (error) {
      this.reportError(error);
    }
  }

  /**
   * Active keys made up to the last secret rotation (its time is when the current secret
   * became current). Counted by creation time: a process whose clock is behind the
   * rotating one's may be counted for a key made just after, never the other way round.
   */
  async #countPreviousSecretKeys(now: number): Promise<number> {
    const store = this.store;
    if (
      store.readSecretFingerprints === undefined ||
      store.countActiveKeysCreatedUpTo === undefined
    ) {
      return 0;
    }
    const { current, previous } = await store.readSecretFingerprints();
    if (current === undefined || previous.length === 0) return 0;
    return store.countActiveKeysCreatedUpTo(current.since, new Date(now));
  }

  /** Unrevoked keys still under another system's hash (0 for a store without imported keys). */
  async #countLegacyHashKeys(): Promise<number> {
    if (this.store.countKeysByHashScheme === undefined) return 0;
    const counts = await this.store.countKeysByHashScheme();
    let total = 0;
    for (const count of counts) if (isLegacyHashScheme(count.scheme)) total += count.unrevokedKeys;
    return total;
  }

  #metrics: Registry | undefined;

  /**
   * A prom-client `Registry` of KeyGuard's instruments only (its own, not prom-client's
   * global one): serve it with `keyguardMetrics(kg)`, or merge it with the application's
   * (`Registry.merge([register, kg.metrics])`). Built on first use.
   */
  get metrics(): Registry {
    this.#metrics ??= createPrometheusRegistry(this.instruments);
    return this.#metrics;
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
    const guard = new RequestGuard(this.#guardContext(), this.limiter, {
      ...options,
      algorithm: options.algorithm ?? this.config.algorithm,
    });
    // A process that serves requests keeps the usage tables bounded; tools (the CLI) do not.
    this.#usageMaintenance.start();
    this.webhooks.start();
    this.#auditRetention.start();
    return guard;
  }

  /** What the request pipeline may use of this KeyGuard (see pipeline/guard-context.ts). */
  #guardContext(): GuardContext {
    return {
      clock: this.clock,
      clientOf: this.clientOf,
      syncBlocks: () => this.syncBlocks(),
      syncIpRules: () => this.syncIpRules(),
      ipRuleFor: (request) => this.ipRuleFor(request),
      findManualBlock: (client, path, now) => this.findManualBlock(client, path, now),
      findBlock: (client, path, now) => this.findBlock(client, path, now),
      blockAutomatically: (block) => this.blockAutomatically(block),
      reportError: (error) => this.reportError(error),
      verifyKey: this.#verifier.verifyNow,
      keyAllowsClient: (key, request) => this.keyAllowsClient(key, request),
      ipBlockThreshold: this.config.ipBlockThreshold,
      instruments: this.instruments,
      usageCounts: this.store,
      notices: this.webhooks,
      recordUsage: (event) => this.recordUsage(event),
      countShadowRefusal: (refusal) => this.countShadowRefusal(refusal),
    };
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

  /** Blocks the client of a request (keyguard-python's `block_request`), as the pipeline sees it. */
  blockRequest(request: GuardRequest, options: BlockOptions = {}): Promise<IpBlock> {
    return this.#ipBlocks.blockRequest(request, options);
  }

  /** Lifts every block on an IP (manual, automatic and lockouts); true if there was one. */
  unblockIp(ip: string): Promise<boolean> {
    return this.#ipBlocks.unblockIp(ip);
  }

  /**
   * Records a block KeyGuard decided on by itself (failed authentications past the
   * threshold, a lockout): in the limiter, and stored with `automatic: true`, so a restart
   * does not lift it. `unblockIp` lifts it like any other.
   */
  blockAutomatically(block: IpBlock): Promise<void> {
    return this.#ipBlocks.blockAutomatically(block);
  }

  /** Blocks in force: stored ones (manual and automatic) and the limiter's, each once. */
  listBlocks(): Promise<IpBlock[]> {
    return this.#ipBlocks.listBlocks();
  }

  /**
   * The block in force on `client` at `path` (already normalised): a manual one from
   * memory first, else the limiter's (automatic blocks, lockouts).
   */
  async findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined> {
    return this.findManualBlock(client, path, now) ?? this.limiter.findBlock(client, path, now);
  }

  /** The stored block (manual or automatic) covering `client` on `path` now, from memory (no I/O). */
  findManualBlock(client: string, path: string, now: number): IpBlock | undefined {
    return this.#ipBlocks.findManualBlock(client, path, now);
  }

  /** Starts keeping manual blocks in step with the store; resolves once loaded. Idempotent. */
  syncBlocks(): Promise<void> {
    return this.#ipBlocks.sync();
  }

  // ---- IP rules (see ip-rules/ip-rule-service.ts) -----------------------------------------

  /**
   * The IP rule covering a request's client (`deny` wins over `allow`), from memory: no
   * I/O, and nothing computed while there are no rules.
   */
  ipRuleFor(request: GuardRequest): IpRuleAction | undefined {
    return this.#ipRules.ruleFor(request);
  }

  /**
   * Whether a key may be used by this request's client (its `allowedIps`; a key without
   * them may be used from anywhere). The client's full address is compared, derived as
   * for limits (`trustProxy`).
   */
  keyAllowsClient(key: ApiKeyInfo, request: GuardRequest): boolean {
    const allowed = key.allowedIps;
    if (allowed === undefined || allowed === null) return true;
    return allowedIpsContain(allowed, this.#ipRules.clientIp(request));
  }

  /** Configured rules, then the stored ones (oldest first). */
  listIpRules(): Promise<IpRule[]> {
    return this.#ipRules.list();
  }

  /**
   * Stores an allow or deny rule; every process applies it (at once with a change feed,
   * else within `blockSyncIntervalMs`). The same range and action again answers the
   * rule there (`created: false`).
   *
   * @example
   * ```ts
   * await kg.addIpRule({ cidr: "10.0.0.0/8", action: "allow", reason: "internal" });
   * await kg.addIpRule({ cidr: "198.51.100.0/24", action: "deny" });
   * ```
   */
  addIpRule(input: IpRuleInput): Promise<{ rule: IpRule; created: boolean }> {
    return this.#ipRules.add(input);
  }

  /** Removes a stored rule by id (`not_found` if there is none); the rule removed. */
  removeIpRule(id: string): Promise<IpRule> {
    return this.#ipRules.remove(id);
  }

  /** Starts keeping stored IP rules in step with the store; resolves once loaded. Idempotent. */
  syncIpRules(): Promise<void> {
    return this.#ipRules.sync();
  }

  /**
   * A per-client limit for routes without API keys (keyguard-python's `rate_limit_by_ip`), with
   * optional lockouts. Adapters wrap it as `rateLimitByIp(kg, rule)`.
   */
  ipRateLimit(rule: IpRateLimitRule): IpRateLimit {
    return new IpRateLimit(this.#guardContext(), this.limiter, rule, this.config.timeZone);
  }

  /**
   * Writes queued usage; with the store unreachable, hands it to the spool (one log line
   * saying how many rows), so `close()` succeeds and the next start writes it.
   */
  async #closeUsage(): Promise<void> {
    try {
      await this.#usage.close();
      return;
    } catch (error) {
      const spool = this.#usageSpool;
      if (spool === undefined || !isKeyGuardError(error, "database_unavailable")) throw error;
      const rows = this.#usage.takeUnwritten();
      let saved: Awaited<ReturnType<UsageSpool["save"]>>;
      try {
        saved = await spool.save(rows);
      } catch (spoolError) {
        const requests = rows.reduce((sum, row) => sum + (row.requestCount ?? 1), 0);
        throw new KeyGuardError(
          "database_unavailable",
          `${error instanceof Error ? error.message : String(error)} The usage spool could not be written either (${spoolError instanceof Error ? spoolError.message : String(spoolError)}): ${rows.length} usage rows (${requests} requests) were lost.`,
          { cause: error },
        );
      }
      this.#warn(
        "KEYGUARD_USAGE_SPOOLED",
        `The store is unreachable: ${saved.rows} usage rows (${saved.requests} requests) were spooled to ${saved.file ?? spool.location}; the next start writes them${saved.droppedRows > 0 ? `. ${saved.droppedRows} rows (${saved.droppedRequests} requests) were dropped: the spool is full (usage.maxSpoolBytes)` : ""}.`,
      );
    }
  }

  /**
   * Reports a failure through `onBackgroundError`, rate limited per kind of error, so a
   * flood (Redis out of memory under load) is a few lines, not one per request. The
   * request pipeline reports every store and limiter error it answers 503 for here.
   */
  reportError(error: unknown): void {
    this.#reportBackgroundError(error);
  }

  /** Writes queued usage and closes the store, limiter and change feed. Safe to repeat. */
  close(): Promise<void> {
    this.#ipBlocks.stopSync();
    this.#ipRules.stopSync();
    this.#stopListening?.();
    this.#closing ??= (async () => {
      // Every step runs even if an earlier one fails (usage first: it needs the store);
      // the first failure is reported.
      const steps = [
        () => this.#usageMaintenance.stop(),
        () => this.webhooks.stop(),
        () => this.#auditRetention.stop(),
        () => this.#closeUsage(),
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
      // Counted errors not yet summarised are handed on now, not lost with the process.
      this.#reportBackgroundError.close();
      // Process warnings (the default reporter) are emitted on the next tick: a process
      // that exits once this resolves would lose the summary.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (failure !== undefined) throw failure.error;
    })();
    return this.#closing;
  }
}

/** What `rotateSecret` did. */
export interface SecretRotation {
  /** The new secret's fingerprint, now the database's current one. */
  readonly fingerprint: string;
  /** The old secret's, now retired: configure the old secret in `previousSecretKeys`. */
  readonly previousFingerprint: string;
  readonly rotatedAt: Date;
  /** Active keys, all made with the old secret: each works until rotated only with it configured. */
  readonly keysToRotate: number;
}

/** The hasher of a KeyGuard built without a secret (read-only tooling). */
const secretMissing: KeyHasher = () => {
  throw new KeyGuardError(
    "invalid_config",
    "This needs the secret key (it hashes raw keys): set KEYGUARD_SECRET_KEY or pass --secret.",
  );
};
