import { randomUUID } from "node:crypto";
import type { WebhookDeliveryResult } from "../metrics/keyguard-instruments.js";
import type { WebhookDeliveryClaim, WebhookStore } from "../ports/webhook-store.js";
import type { Clock } from "../util/clock.js";
import { webhookBackoffMs } from "./webhook-backoff.js";
import type { WebhookConfig } from "./webhook-config.js";
import { openWebhookSecret, sealWebhookSecret } from "./webhook-secret-box.js";
import { sendWebhook } from "./webhook-sender.js";
import { signWebhookPayload, WEBHOOK_SIGNATURE_HEADER } from "./webhook-signature.js";

/** What became of one delivery attempt. */
export type WebhookAttemptResult = "delivered" | "retry" | "failed";

/** Response bytes read from a receiver: enough to see it answered, nothing worth keeping. */
const MAX_RESPONSE_BYTES = 4096;

export interface WebhookDispatcherOptions {
  readonly store: WebhookStore;
  readonly config: WebhookConfig;
  /** The secret key first, then previous ones: what sealed secrets are opened with. */
  readonly serverSecrets: readonly string[];
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
  /** Told after each attempt (tests, `Webhooks.onAttempt`). */
  readonly onAttempt?: (result: WebhookAttemptResult) => void;
  /** Told how each attempt ended, in the metric's terms (`WEBHOOK_DELIVERY_RESULTS`). */
  readonly recordResult?: (result: WebhookDeliveryResult) => void;
  readonly random?: () => number;
}

/**
 * Delivers what the outbox holds: claims due deliveries in the store (a lease, so of
 * several processes one sends each), sends them concurrently within bounds (in all, and
 * per endpoint, so one slow receiver holds at most `perEndpointConcurrency` slots and
 * never delays the others), and records each attempt with its outcome: delivered on a
 * 2xx, else retried after a growing, jittered wait until `retryWindowMs` after the
 * event, then failed. Runs off every request's path.
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #owner = randomUUID();
  /** Deliveries in flight, by delivery id. */
  readonly #inFlight = new Map<string, { endpointId: string; abort: AbortController }>();
  #closed = false;
  #claiming: Promise<number> | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Claims what there is room for and starts sending it; resolves with how many were
   * claimed (the sends go on in the background, `onSettled` tells when each is done).
   */
  claimAndSend(onSettled?: () => void): Promise<number> {
    this.#claiming ??= this.#claim(onSettled).finally(() => {
      this.#claiming = undefined;
    });
    return this.#claiming;
  }

  async #claim(onSettled?: () => void): Promise<number> {
    const { config, clock, store } = this.#options;
    const room = config.concurrency - this.#inFlight.size;
    if (this.#closed || room <= 0) return 0;
    const perEndpoint = new Map<string, number>();
    for (const { endpointId } of this.#inFlight.values()) {
      perEndpoint.set(endpointId, (perEndpoint.get(endpointId) ?? 0) + 1);
    }
    const skipEndpoints = [...perEndpoint]
      .filter(([, count]) => count >= config.perEndpointConcurrency)
      .map(([id]) => id);
    const now = clock.now();
    const claims = await store.claimWebhookDeliveries({
      now: new Date(now),
      leaseUntil: new Date(now + config.timeoutMs + config.leaseMarginMs),
      owner: this.#owner,
      limit: room,
      perEndpoint: config.perEndpointConcurrency,
      skipEndpoints,
    });
    for (const claim of claims) {
      const abort = new AbortController();
      this.#inFlight.set(claim.id, { endpointId: claim.endpointId, abort });
      void this.#deliver(claim, abort.signal)
        .catch((error) => this.#options.onError(error))
        .finally(() => {
          this.#inFlight.delete(claim.id);
          onSettled?.();
        });
    }
    return claims.length;
  }

  async #deliver(claim: WebhookDeliveryClaim, signal: AbortSignal): Promise<void> {
    const { config, clock, store } = this.#options;
    const startedAt = clock.now();
    let statusCode: number | null = null;
    let error: string | null;
    try {
      const { secret, index } = openWebhookSecret(
        claim.sealedSecret,
        claim.endpointId,
        this.#options.serverSecrets,
      );
      if (index > 0) this.#reseal(claim, secret);
      const timestamp = Math.floor(clock.now() / 1000);
      const result = await sendWebhook({
        url: claim.url,
        body: claim.body,
        headers: {
          "content-type": "application/json",
          "user-agent": "KeyGuard-Webhooks/1",
          [WEBHOOK_SIGNATURE_HEADER]: signWebhookPayload(claim.body, secret, timestamp),
          "KeyGuard-Event-Id": claim.eventId,
          "KeyGuard-Event-Type": claim.eventType,
          "KeyGuard-Delivery-Attempt": String(claim.attempt),
        },
        timeoutMs: config.timeoutMs,
        maxResponseBytes: MAX_RESPONSE_BYTES,
        signal,
      });
      statusCode = result.statusCode;
      error = result.error;
    } catch (cause) {
      error = cause instanceof Error ? cause.message.slice(0, 300) : "could not be sent";
    }
    if (signal.aborted) {
      // Stopping: hand it back unattempted, so another process (or the next start) sends it.
      await store.releaseWebhookDeliveries([claim.id], this.#owner, new Date(clock.now()));
      return;
    }
    const finishedAt = clock.now();
    const delivered = error === null;
    const wait = webhookBackoffMs(
      claim.attempt,
      config.initialBackoffMs,
      config.maxBackoffMs,
      this.#options.random,
    );
    const giveUp =
      !delivered && finishedAt + wait > claim.createdAt.getTime() + config.retryWindowMs;
    const status = delivered ? "delivered" : giveUp ? "failed" : "pending";
    await store.recordWebhookAttempt({
      deliveryId: claim.id,
      owner: this.#owner,
      attempt: claim.attempt,
      startedAt: new Date(startedAt),
      durationMs: Math.max(0, finishedAt - startedAt),
      statusCode,
      error,
      status,
      ...(status === "pending" ? { nextAttemptAt: new Date(finishedAt + wait) } : {}),
    });
    this.#options.onAttempt?.(delivered ? "delivered" : giveUp ? "failed" : "retry");
    this.#options.recordResult?.(
      delivered ? "delivered" : giveUp ? "abandoned" : statusCode === null ? "failed" : "rejected",
    );
  }

  /**
   * A secret still sealed under a previous secret key (from before `rotate-secret`) is
   * sealed again under the current one, so the previous key can be retired. Conditional
   * on the old sealed value: two processes doing it at once agree.
   */
  #reseal(claim: WebhookDeliveryClaim, secret: string): void {
    const current = this.#options.serverSecrets[0] as string;
    void this.#options.store
      .resealWebhookSecret(
        claim.endpointId,
        claim.sealedSecret,
        sealWebhookSecret(secret, claim.endpointId, current),
      )
      .catch((error) => this.#options.onError(error));
  }

  /** Stops claiming and aborts what is in flight (handed back to the outbox). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#claiming?.catch(() => {});
    const settled = [...this.#inFlight.values()].map(({ abort }) => abort);
    for (const abort of settled) abort.abort();
    // Each aborted send releases its claim; wait (briefly) for those writes.
    const deadline = Date.now() + 2_000;
    while (this.#inFlight.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
