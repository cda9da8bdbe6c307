import type { EventRecord } from "./audit-log.js";
import type { ListPage } from "./list-page.js";

/** A registered endpoint as stored: its signing secret only sealed (see `webhook-secret-box.ts`). */
export interface WebhookEndpointRecord {
  readonly id: string;
  readonly url: string;
  /** Event types, or `*`. */
  readonly events: readonly string[];
  /** The signing secret, sealed under the server secret; never leaves the delivery code. */
  readonly sealedSecret: string;
  readonly createdAt: Date;
}

/** One event to deliver to every endpoint subscribed to its type. */
export interface WebhookEventRecord {
  readonly id: string;
  readonly type: string;
  readonly createdAt: Date;
  /** The request body, exactly as sent (and signed) in every attempt. */
  readonly body: string;
  /**
   * For notices raised once (`key.expiring` per key and expiry, `quota.exceeded` per key
   * and month): the event is enqueued only if no event with this notice was before,
   * decided by the database (of several processes raising it at once, one does).
   */
  readonly notice?: WebhookNotice;
  /** An endpoint not to deliver it to (a new endpoint's own `webhook.created`). */
  readonly exceptEndpointId?: string;
}

export interface WebhookNotice {
  readonly kind: string;
  readonly subjectId: string;
  readonly period: Date;
}

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** A delivery claimed by one process: it holds the lease until `leaseUntil`. */
export interface WebhookDeliveryClaim {
  readonly id: string;
  readonly endpointId: string;
  readonly url: string;
  readonly sealedSecret: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly body: string;
  /** This attempt's number (1 for the first). */
  readonly attempt: number;
  /** When the delivery was enqueued: the retry window counts from here. */
  readonly createdAt: Date;
}

/** What one attempt did, and what becomes of the delivery. */
export interface WebhookAttemptOutcome {
  readonly deliveryId: string;
  /** The claimer; the delivery's state changes only while it still holds the lease. */
  readonly owner: string;
  readonly attempt: number;
  readonly startedAt: Date;
  readonly durationMs: number;
  /** The response's status; null when no response came (timeout, refused connection). */
  readonly statusCode: number | null;
  /** Why it failed, in KeyGuard's words (never the receiver's body). */
  readonly error: string | null;
  readonly status: WebhookDeliveryStatus;
  /** For `pending`: when to try again. */
  readonly nextAttemptAt?: Date;
}

export interface WebhookAttempt {
  readonly attempt: number;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
}

/** A delivery as listed: its state and every attempt so far. */
export interface WebhookDelivery {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: WebhookDeliveryStatus;
  readonly attempts: readonly WebhookAttempt[];
  readonly createdAt: Date;
  readonly nextAttemptAt: Date | null;
  readonly deliveredAt: Date | null;
}

export interface WebhookClaimRequest {
  readonly now: Date;
  readonly leaseUntil: Date;
  /** Who claims (one id per process's dispatcher). */
  readonly owner: string;
  readonly limit: number;
  /** At most this many deliveries of one endpoint in one claim. */
  readonly perEndpoint: number;
  /** Endpoints this process has enough deliveries in flight for already. */
  readonly skipEndpoints: readonly string[];
}

/**
 * Webhook endpoints and the delivery outbox, in the same database as everything else so
 * deliveries survive restarts and several processes share them. A store offers it as
 * `Store.webhooks`; without one, KeyGuard has no webhooks.
 *
 * Rules every implementation follows:
 * - Each delivery is claimed by one caller at a time: `claimWebhookDeliveries` is a
 *   conditional update (pending, due, no unexpired lease), so of several processes
 *   claiming at once each delivery goes to one; a claimer that dies leaves a lease that
 *   expires, and the delivery is claimed again.
 * - `enqueueWebhookEvents` writes one delivery per event and subscribed endpoint
 *   (endpoints registered no later than the event), at most once per pair, in one
 *   transaction with the notice it records, if any.
 *
 * @example
 * ```ts
 * const claims = await store.webhooks.claimWebhookDeliveries({ now, leaseUntil, owner, limit: 10, perEndpoint: 2, skipEndpoints: [] });
 * ```
 */
export interface WebhookStore {
  /**
   * Inserts an endpoint unless `maxEndpoints` are registered already: false then. The
   * count and the insert are one decision, so registrations racing from several processes
   * never exceed the bound.
   */
  insertWebhookEndpoint(
    endpoint: WebhookEndpointRecord,
    maxEndpoints: number,
    record?: EventRecord<WebhookEndpointRecord>,
  ): Promise<boolean>;
  /** Endpoints oldest first, paged (keyset). */
  listWebhookEndpoints(page?: ListPage): Promise<WebhookEndpointRecord[]>;
  countWebhookEndpoints(): Promise<number>;
  findWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | undefined>;
  /**
   * Deletes an endpoint with its deliveries; false when there was none. `record` gets the
   * endpoint only when this call deleted it (its event is written in the same transaction).
   */
  deleteWebhookEndpoint(id: string, record?: EventRecord<WebhookEndpointRecord>): Promise<boolean>;
  /** Replaces an endpoint's sealed secret if it is still `expected` (a re-seal after a rotation). */
  resealWebhookSecret(id: string, expected: string, sealed: string): Promise<boolean>;

  /** Enqueues deliveries for events (see the rules); the number of deliveries written. */
  enqueueWebhookEvents(events: readonly WebhookEventRecord[]): Promise<number>;

  claimWebhookDeliveries(request: WebhookClaimRequest): Promise<WebhookDeliveryClaim[]>;
  /** Records an attempt, and applies its outcome (in the same transaction) if `owner` still holds the lease. */
  recordWebhookAttempt(outcome: WebhookAttemptOutcome): Promise<void>;
  /** Gives deliveries back unattempted (a process shutting down mid-delivery). */
  releaseWebhookDeliveries(ids: readonly string[], owner: string, now: Date): Promise<void>;

  /** One endpoint's deliveries, newest first, paged (keyset), with their attempts. */
  listWebhookDeliveries(endpointId: string, page?: ListPage): Promise<WebhookDelivery[]>;
  /** Deletes up to `limit` delivered or failed deliveries older than `before`; how many. */
  deleteFinishedWebhookDeliveries(before: Date, limit: number): Promise<number>;

  /**
   * Active, unrotated keys expiring after `from` and at or before `to` that have no
   * `key.expiring` notice for that expiry yet, soonest first, at most `limit`, with the
   * fields the notice's payload carries.
   */
  listExpiringKeys(from: Date, to: Date, limit: number): Promise<ExpiringKey[]>;
}

export interface ExpiringKey {
  readonly id: string;
  readonly orgId: string;
  readonly label: string;
  readonly prefix: string;
  readonly expiresAt: Date;
}
