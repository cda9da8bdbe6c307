import type { ApiKeyInfo } from "../domain/api-key.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { created, removed, webhookEndpointFields } from "../events/event-changes.js";
import type { EventRecorder } from "../events/event-recorder.js";
import type { WebhookDeliveryResult } from "../metrics/keyguard-instruments.js";
import type { ListPage } from "../ports/list-page.js";
import type {
  WebhookDelivery,
  WebhookEndpointRecord,
  WebhookStore,
} from "../ports/webhook-store.js";
import type { Clock } from "../util/clock.js";
import { timeOrderedId } from "../util/time-ordered-id.js";
import type { WebhookConfig } from "./webhook-config.js";
import { type WebhookAttemptResult, WebhookDispatcher } from "./webhook-dispatcher.js";
import { MAX_WEBHOOK_ENDPOINTS, parseWebhookEvents, parseWebhookUrl } from "./webhook-inputs.js";
import { WebhookNotices } from "./webhook-notices.js";
import { generateWebhookSecret, sealWebhookSecret } from "./webhook-secret-box.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Finished deliveries deleted per retention step (short transactions). */
const RETENTION_BATCH = 1_000;
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
/** Expiring keys are looked for once a minute (or every 60 polls, if that is sooner). */
const EXPIRING_SCAN_MS = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A registered endpoint as callers see it (never its secret). */
export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly createdAt: Date;
}

/** A new endpoint and its signing secret: the only time the secret is shown. */
export interface CreatedWebhookEndpoint {
  readonly endpoint: WebhookEndpoint;
  readonly secret: string;
}

export interface WebhooksOptions {
  /** The store's webhook part; undefined when the store has none. */
  readonly store: WebhookStore | undefined;
  readonly config: WebhookConfig;
  /** The secret key (seals new secrets), then previous ones (still open old ones). */
  readonly serverSecrets: readonly string[];
  /** Writes each endpoint change's audit event in the change's transaction. */
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
  /** Told how each delivery attempt ended, for `keyguard_webhook_deliveries_total`. */
  readonly recordResult?: (result: WebhookDeliveryResult) => void;
}

/**
 * Webhooks: endpoints registered in the store, and (in servers: `start()`) their
 * delivery from the outbox. See docs/webhooks.md for what receivers get.
 *
 * @example
 * ```ts
 * const { endpoint, secret } = await kg.webhooks.create({
 *   url: "https://example.com/hooks/keyguard",
 *   events: ["key.revoked", "ip.auto_blocked"],
 * });
 * // keep `secret`: it verifies signatures (verifyWebhookSignature) and is never shown again
 * ```
 */
export class Webhooks {
  readonly #options: WebhooksOptions;
  readonly #notices: WebhookNotices | undefined;
  #dispatcher: WebhookDispatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #lastRetention = 0;
  readonly #attemptListeners = new Set<(result: WebhookAttemptResult) => void>();

  constructor(options: WebhooksOptions) {
    this.#options = options;
    this.#notices =
      options.store === undefined
        ? undefined
        : new WebhookNotices({
            store: options.store,
            clock: options.clock,
            expiringDays: options.config.expiringDays,
            creditsLowPercent: options.config.creditsLowPercent,
            scanIntervalMs: Math.min(EXPIRING_SCAN_MS, options.config.pollIntervalMs * 60),
          });
  }

  get #store(): WebhookStore {
    const store = this.#options.store;
    if (store === undefined) {
      throw new KeyGuardError("invalid_config", "This store does not support webhooks.");
    }
    return store;
  }

  /** Registers an endpoint; its signing secret is in this answer only. */
  async create(input: { url: string; events: readonly string[] }): Promise<CreatedWebhookEndpoint> {
    const url = parseWebhookUrl(input.url);
    const events = parseWebhookEvents(input.events);
    const serverSecret = this.#options.serverSecrets[0];
    if (serverSecret === undefined) {
      throw new KeyGuardError(
        "invalid_config",
        "This needs the secret key (it seals webhook signing secrets): set KEYGUARD_SECRET_KEY or pass --secret.",
      );
    }
    const store = this.#store;
    const now = this.#options.clock.now();
    const id = timeOrderedId(now);
    const secret = generateWebhookSecret();
    const record = {
      id,
      url,
      events,
      sealedSecret: sealWebhookSecret(secret, id, serverSecret),
      createdAt: new Date(now),
    };
    const stored = await this.#options.events.write(
      (endpoint: WebhookEndpointRecord) => ({
        action: "webhook.created",
        targetId: endpoint.id,
        changes: created(webhookEndpointFields(endpoint)),
      }),
      (write) => store.insertWebhookEndpoint(record, MAX_WEBHOOK_ENDPOINTS, write),
    );
    if (!stored) {
      throw new KeyGuardError(
        "invalid_input",
        `At most ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints can be registered: remove one first.`,
      );
    }
    return { endpoint: toEndpoint(record), secret };
  }

  /** Endpoints, oldest first (keyset pages). */
  async list(page: ListPage = {}): Promise<WebhookEndpoint[]> {
    return (await this.#store.listWebhookEndpoints(page)).map(toEndpoint);
  }

  async get(id: string): Promise<WebhookEndpoint> {
    const found = UUID.test(id) ? await this.#store.findWebhookEndpoint(id) : undefined;
    if (found === undefined) throw notFound();
    return toEndpoint(found);
  }

  /** Removes an endpoint and its deliveries (pending ones are not sent). */
  async remove(id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.get(id);
    const store = this.#store;
    const deleted = await this.#options.events.write(
      (gone: WebhookEndpointRecord) => ({
        action: "webhook.removed",
        targetId: gone.id,
        changes: removed(webhookEndpointFields(gone)),
      }),
      (record) => store.deleteWebhookEndpoint(id, record),
    );
    if (!deleted) throw notFound();
    return endpoint;
  }

  /** An endpoint's deliveries, newest first (keyset pages), each with its attempts. */
  async deliveries(id: string, page: ListPage = {}): Promise<WebhookDelivery[]> {
    await this.get(id);
    return this.#store.listWebhookDeliveries(id, page);
  }

  // ---- delivery (servers) -------------------------------------------------------------

  /**
   * Tells `listener` the result of every delivery attempt this process makes (for
   * metrics): `delivered`, `retry` (failed, tried again later) or `failed` (given up).
   * Returns the function that stops it. A throwing listener is reported, never fatal.
   */
  onAttempt(listener: (result: WebhookAttemptResult) => void): () => void {
    this.#attemptListeners.add(listener);
    return () => this.#attemptListeners.delete(listener);
  }

  /** The request pipeline refused a key for its monthly quota (memory only, no I/O). */
  quotaExceeded(key: ApiKeyInfo, now: number): void {
    if (this.#dispatcher !== undefined) this.#notices?.quotaExceeded(key, now);
  }

  /**
   * An allowed request left a key `remaining` of its period's `limit` credits (the period
   * starting at `periodStart`): `credits.low` once it is at or below the threshold
   * (memory only, no I/O).
   */
  creditsSpent(
    key: ApiKeyInfo,
    periodStart: number,
    limit: number,
    remaining: number,
    now: number,
  ): void {
    if (this.#dispatcher !== undefined) {
      this.#notices?.creditsSpent(key, periodStart, limit, remaining, now);
    }
  }

  /**
   * Starts delivering in the background: every `pollIntervalMs` (and at once when a
   * delivery finishes and more may be due) it writes the notices raised meanwhile, then
   * claims and sends due deliveries. (Changes reach the outbox in their own transaction:
   * the store writes a delivery per subscribed endpoint beside each change's audit event.) Idempotent; `stop()` ends it.
   */
  start(): void {
    if (this.#options.store === undefined || !this.#options.config.enabled) return;
    if (this.#timer !== undefined || this.#dispatcher !== undefined) return;
    this.#dispatcher = new WebhookDispatcher({
      store: this.#options.store,
      config: this.#options.config,
      serverSecrets: this.#options.serverSecrets,
      clock: this.#options.clock,
      onError: this.#options.onError,
      ...(this.#options.recordResult === undefined
        ? {}
        : { recordResult: this.#options.recordResult }),
      onAttempt: (result) => {
        for (const listener of this.#attemptListeners) {
          try {
            listener(result);
          } catch (error) {
            this.#options.onError(error);
          }
        }
      },
    });
    this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    if (this.#dispatcher === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.runOnce()
      .then(() => undefined)
      .catch((error) => this.#options.onError(error))
      .finally(() => {
        this.#running = undefined;
        const again = this.#again;
        this.#again = false;
        this.#schedule(again ? 0 : this.#options.config.pollIntervalMs);
      });
    await this.#running;
  }

  /**
   * One step: writes notices, claims due deliveries and starts sending them; resolves
   * with how many it claimed (their sends finish in the background).
   */
  async runOnce(): Promise<number> {
    const dispatcher = this.#dispatcher;
    if (dispatcher === undefined) return 0;
    await this.#notices?.step();
    await this.#retain();
    return dispatcher.claimAndSend(() => {
      // A slot came free: look for more at once rather than at the next poll.
      if (this.#dispatcher !== undefined) this.#schedule(0);
    });
  }

  async #retain(): Promise<void> {
    const now = this.#options.clock.now();
    if (now - this.#lastRetention < RETENTION_INTERVAL_MS) return;
    this.#lastRetention = now;
    const before = new Date(now - this.#options.config.retentionDays * DAY_MS);
    while ((await this.#store.deleteFinishedWebhookDeliveries(before, RETENTION_BATCH)) > 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Stops delivering; deliveries in flight go back to the outbox for another process. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const dispatcher = this.#dispatcher;
    this.#dispatcher = undefined;
    await this.#running?.catch(() => {});
    await dispatcher?.close();
  }
}

function toEndpoint(record: WebhookEndpoint): WebhookEndpoint {
  return { id: record.id, url: record.url, events: record.events, createdAt: record.createdAt };
}

function notFound(): KeyGuardError {
  return new KeyGuardError("webhook_not_found", "No webhook endpoint has this id.");
}
