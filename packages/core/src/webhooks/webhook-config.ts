import { z } from "zod";

const positiveInt = (field: string, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: `${field} must be a number` })
    .int(`${field} must be a whole number`)
    .positive(`${field} must be greater than 0`)
    .max(max, `${field} must be at most ${max}`);

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How webhooks are delivered (the `webhooks` section of the configuration). Defaults suit
 * production; tests shorten the backoff and the poll interval.
 */
export const webhookConfigSchema = z
  .object({
    /** Servers deliver webhooks (`guard()` starts it); `false` leaves it to other processes. */
    enabled: z
      .preprocess(
        (value) => (value === "true" ? true : value === "false" ? false : value),
        z.boolean({ error: "webhooks.enabled must be true or false" }),
      )
      .default(true),
    /** How often a server looks for new events and due deliveries. */
    pollIntervalMs: positiveInt("webhooks.pollIntervalMs", 60_000).default(1_000),
    /** The whole request (connect, send, response headers, first bytes), at most this long. */
    timeoutMs: positiveInt("webhooks.timeoutMs", 60_000).default(10_000),
    /**
     * A claimed delivery is leased for `timeoutMs` plus this: a process that dies
     * mid-delivery leaves it to others (or to its own restart) once the lease ends. A
     * margin shorter than recording an attempt takes may deliver some events twice.
     */
    leaseMarginMs: positiveInt("webhooks.leaseMarginMs", 10 * 60_000).default(30_000),
    /** The first retry comes about this long after a failure; each next one waits twice as long. */
    initialBackoffMs: positiveInt("webhooks.initialBackoffMs", DAY_MS).default(10_000),
    /** No wait between attempts is longer than this. */
    maxBackoffMs: positiveInt("webhooks.maxBackoffMs", DAY_MS).default(60 * 60 * 1000),
    /** A delivery still failing this long after its event is given up (marked failed). */
    retryWindowMs: positiveInt("webhooks.retryWindowMs", 30 * DAY_MS).default(DAY_MS),
    /** Deliveries in flight per process. */
    concurrency: positiveInt("webhooks.concurrency", 256).default(16),
    /** Deliveries in flight per endpoint per process: a slow endpoint holds no more. */
    perEndpointConcurrency: positiveInt("webhooks.perEndpointConcurrency", 64).default(2),
    /** `key.expiring` is sent this many days before a key's `expires_at`. */
    expiringDays: positiveInt("webhooks.expiringDays", 365).default(7),
    /**
     * `credits.low` is sent (once per key and balance period) when an allowed request leaves
     * a key with at most this percentage of its period's credits (the grant, or the refill).
     */
    creditsLowPercent: positiveInt("webhooks.creditsLowPercent", 100).default(10),
    /** Delivered and failed deliveries (and their attempts) are deleted after this. */
    retentionDays: positiveInt("webhooks.retentionDays", 3650).default(30),
  })
  .strict()
  .prefault({});

export type WebhookConfig = z.output<typeof webhookConfigSchema>;
