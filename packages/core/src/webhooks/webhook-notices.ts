import { LRUCache } from "lru-cache";
import type { ApiKeyInfo } from "../domain/api-key.js";
import { calendarMonth } from "../limits/monthly-quota.js";
import type { WebhookEventRecord, WebhookStore } from "../ports/webhook-store.js";
import type { Clock } from "../util/clock.js";
import { timeOrderedId } from "../util/time-ordered-id.js";
import { webhookEvent } from "./webhook-event-body.js";
import { subscribesTo } from "./webhook-event-types.js";
import { MAX_WEBHOOK_ENDPOINTS } from "./webhook-inputs.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Keys per `key.expiring` scan step, and quota notices waiting at most. */
const BATCH = 200;
const MAX_PENDING_QUOTA_NOTICES = 10_000;

/**
 * The events no change makes: `key.expiring` (found by scanning for keys that expire
 * within `expiringDays` and have no notice for that expiry yet) and `quota.exceeded`
 * (told by the request pipeline when it refuses a key for its monthly quota: remembered in
 * memory, with no I/O on the request, and written by the next dispatcher step). The
 * database decides "once": each notice is recorded in the transaction that enqueues it,
 * so of several processes raising one, one does.
 */
export class WebhookNotices {
  readonly #store: WebhookStore;
  readonly #clock: Clock;
  readonly #expiringDays: number;
  readonly #scanIntervalMs: number;
  #lastScan = Number.NEGATIVE_INFINITY;
  /** (key, month) pairs this process raised (or saw raised) already: no repeat write. */
  readonly #quotaSeen = new LRUCache<string, true>({ max: 100_000 });
  /** (lineage, balance period) pairs whose `credits.low` this process raised already. */
  readonly #creditsSeen = new LRUCache<string, true>({ max: 100_000 });
  readonly #creditsLowPercent: number;
  #pendingQuota: WebhookEventRecord[] = [];

  constructor(options: {
    store: WebhookStore;
    clock: Clock;
    expiringDays: number;
    /** How often to look for expiring keys (a day's notice needs no second's precision). */
    scanIntervalMs: number;
    /** `credits.low` at or below this percentage of a period's credits. */
    creditsLowPercent: number;
  }) {
    this.#creditsLowPercent = options.creditsLowPercent;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#expiringDays = options.expiringDays;
    this.#scanIntervalMs = options.scanIntervalMs;
  }

  /** A key was refused for its monthly quota (request path: memory only). */
  quotaExceeded(key: ApiKeyInfo, now: number): void {
    const month = calendarMonth(now);
    const seen = `${key.id}:${month.start}`;
    if (this.#quotaSeen.has(seen) || this.#pendingQuota.length >= MAX_PENDING_QUOTA_NOTICES) {
      return;
    }
    this.#quotaSeen.set(seen, true);
    const start = new Date(month.start);
    this.#pendingQuota.push(
      webhookEvent({
        id: timeOrderedId(now),
        type: "quota.exceeded",
        createdAt: new Date(now),
        data: {
          key: {
            id: key.id,
            org_id: key.orgId,
            label: key.label,
            prefix: key.prefix,
            monthly_limit: key.monthlyLimit,
          },
          period: start.toISOString().slice(0, 7),
          resets_at: new Date(month.end).toISOString(),
        },
        notice: { kind: "quota.exceeded", subjectId: key.id, period: start },
      }),
    );
  }

  /**
   * An allowed request left the key `remaining` of `limit` credits for the balance period
   * starting at `periodStart` (request path: memory only). Once per rotation lineage and
   * period (the notice is recorded under the lineage's id, the balance's owner).
   */
  creditsSpent(
    key: ApiKeyInfo,
    periodStart: number,
    limit: number,
    remaining: number,
    now: number,
  ): void {
    if (remaining * 100 > limit * this.#creditsLowPercent) return;
    const seen = `${key.quotaId}:${periodStart}`;
    if (this.#creditsSeen.has(seen) || this.#pendingQuota.length >= MAX_PENDING_QUOTA_NOTICES) {
      return;
    }
    this.#creditsSeen.set(seen, true);
    const refill = key.credits?.refill ?? null;
    this.#pendingQuota.push(
      webhookEvent({
        id: timeOrderedId(now),
        type: "credits.low",
        createdAt: new Date(now),
        data: {
          key: { id: key.id, org_id: key.orgId, label: key.label, prefix: key.prefix },
          remaining,
          period_credits: limit,
          threshold_percent: this.#creditsLowPercent,
          period_start: new Date(periodStart).toISOString(),
          refill: refill === null ? null : { amount: refill.amount, interval: refill.interval },
        },
        notice: { kind: "credits.low", subjectId: key.quotaId, period: new Date(periodStart) },
      }),
    );
  }

  /** Writes waiting notices and scans for expiring keys; the deliveries enqueued. */
  async step(): Promise<number> {
    let enqueued = 0;
    if (this.#pendingQuota.length > 0) {
      const pending = this.#pendingQuota;
      this.#pendingQuota = [];
      try {
        enqueued += await this.#store.enqueueWebhookEvents(pending);
      } catch (error) {
        // Kept for the next step (the cap bounds them), not lost with an outage.
        this.#pendingQuota = [...pending, ...this.#pendingQuota].slice(
          0,
          MAX_PENDING_QUOTA_NOTICES,
        );
        throw error;
      }
    }
    const now = this.#clock.now();
    if (now - this.#lastScan < this.#scanIntervalMs) return enqueued;
    this.#lastScan = now;
    // Nobody listening: nothing to scan (and no notice spent, so a later subscriber gets it).
    const endpoints = await this.#store.listWebhookEndpoints({ limit: MAX_WEBHOOK_ENDPOINTS });
    if (!endpoints.some((endpoint) => subscribesTo(endpoint.events, "key.expiring"))) {
      return enqueued;
    }
    for (;;) {
      const keys = await this.#store.listExpiringKeys(
        new Date(now),
        new Date(now + this.#expiringDays * DAY_MS),
        BATCH,
      );
      if (keys.length === 0) break;
      enqueued += await this.#store.enqueueWebhookEvents(
        keys.map((key) =>
          webhookEvent({
            id: timeOrderedId(now),
            type: "key.expiring",
            createdAt: new Date(now),
            data: {
              key: { id: key.id, org_id: key.orgId, label: key.label, prefix: key.prefix },
              expires_at: key.expiresAt.toISOString(),
            },
            notice: { kind: "key.expiring", subjectId: key.id, period: key.expiresAt },
          }),
        ),
      );
      if (keys.length < BATCH) break;
    }
    return enqueued;
  }
}
