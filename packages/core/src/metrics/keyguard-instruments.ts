import { ERROR_CODES, type ErrorCode } from "../errors/error-codes.js";
import type { UsageRecorderStats } from "../usage/usage-recorder.js";
import { type CountCell, MetricFamily } from "./counter-family.js";
import { HistogramFamily, type TimingCell } from "./histogram-family.js";

/** How a webhook delivery attempt ended: the `result` label of `keyguard_webhook_deliveries_total`. */
export const WEBHOOK_DELIVERY_RESULTS = [
  /** The receiver answered 2xx: delivered. */
  "delivered",
  /** The receiver answered something else; the delivery is retried. */
  "rejected",
  /** No answer: connection refused or reset, or the timeout passed; retried. */
  "failed",
  /** The last retry failed too: the event is given up for this endpoint. */
  "abandoned",
] as const;
export type WebhookDeliveryResult = (typeof WEBHOOK_DELIVERY_RESULTS)[number];

/** The Lua scripts the Redis limiter runs: the `script` label of `keyguard_redis_script_calls_total`. */
export const REDIS_SCRIPTS = [
  "decide",
  "hit",
  "block",
  "seed_quota",
  "release_slots",
  "renew_slots",
] as const;
export type RedisScript = (typeof REDIS_SCRIPTS)[number];

/** What a cache look-up found, as `VerificationCache.lookup` answers it. */
type CacheAnswer = { readonly key: unknown } | undefined;

/**
 * KeyGuard's own instruments, one set per `KeyGuard`. Every series is created here, when
 * KeyGuard is built (store and limiter operations when first called), with label values
 * from fixed lists in the code: never a key, key id, path or client address, whatever
 * requests send. Recording is a number added to a pre-bound series: no allocation, no
 * timer, no formatting on the request path. `kg.metrics` renders them for Prometheus;
 * `reportToOpenTelemetry` reports the same instruments through a registered meter provider.
 */
export class KeyGuardInstruments {
  readonly decisions = new MetricFamily(
    "keyguard_decisions_total",
    "Requests the guard decided: allowed, or refused with the problem code it answered (code is empty when allowed).",
    "counter",
    ["outcome", "code"],
  );
  readonly cacheLookups = new MetricFamily(
    "keyguard_verification_cache_lookups_total",
    "Key verifications by what the verification cache had: hit (a known key), negative_hit (a hash known to be no key), miss (the store was asked).",
    "counter",
    ["result"],
  );
  readonly storeCalls = new HistogramFamily(
    "keyguard_store_call_duration_seconds",
    "Time each store (database) call took, by store method, failed calls included.",
    ["operation"],
  );
  readonly storeErrors = new MetricFamily(
    "keyguard_store_errors_total",
    "Store calls that failed, by store method.",
    "counter",
    ["operation"],
  );
  readonly limiterCalls = new HistogramFamily(
    "keyguard_limiter_call_duration_seconds",
    "Time each limiter call took (memory or Redis), by limiter method, failed calls included.",
    ["operation"],
  );
  readonly limiterErrors = new MetricFamily(
    "keyguard_limiter_errors_total",
    "Limiter calls that failed (Redis down, out of memory, ...), by limiter method.",
    "counter",
    ["operation"],
  );
  readonly failOpen = new MetricFamily(
    "keyguard_limiter_fail_open_total",
    "Requests let through unlimited because the limiter failed and failOpen is on.",
    "counter",
  );
  readonly usageBuffered = new MetricFamily(
    "keyguard_usage_events_buffered",
    "Requests whose usage is waiting in memory to be written to the store.",
    "gauge",
  );
  readonly usageWritten = new MetricFamily(
    "keyguard_usage_events_written_total",
    "Requests whose usage was written to the store.",
    "counter",
  );
  readonly usageDropped = new MetricFamily(
    "keyguard_usage_events_dropped_total",
    "Requests whose usage was dropped: the buffer was full (usage.maxBuffered) or the store refused the row.",
    "counter",
  );
  readonly webhookDeliveries = new MetricFamily(
    "keyguard_webhook_deliveries_total",
    "Webhook delivery attempts, by how they ended.",
    "counter",
    ["result"],
  );
  readonly redisScriptCalls = new MetricFamily(
    "keyguard_redis_script_calls_total",
    "Lua script calls the Redis limiter sent (decisions of one key in one event-loop turn share a call).",
    "counter",
    ["script"],
  );

  readonly #allowed: CountCell;
  readonly #refused: Record<string, CountCell>;
  readonly #cacheHit: CountCell;
  readonly #cacheNegativeHit: CountCell;
  readonly #cacheMiss: CountCell;
  readonly #failOpen: CountCell;
  readonly #webhookDeliveries: Record<string, CountCell>;

  constructor() {
    this.#allowed = this.decisions.counter({ outcome: "allowed", code: "" });
    const refused: Record<string, CountCell> = Object.create(null);
    for (const code of Object.keys(ERROR_CODES)) {
      refused[code] = this.decisions.counter({ outcome: "refused", code });
    }
    this.#refused = refused;
    this.#cacheHit = this.cacheLookups.counter({ result: "hit" });
    this.#cacheNegativeHit = this.cacheLookups.counter({ result: "negative_hit" });
    this.#cacheMiss = this.cacheLookups.counter({ result: "miss" });
    this.#failOpen = this.failOpen.counter();
    const deliveries: Record<string, CountCell> = Object.create(null);
    for (const result of WEBHOOK_DELIVERY_RESULTS) {
      deliveries[result] = this.webhookDeliveries.counter({ result });
    }
    this.#webhookDeliveries = deliveries;
    for (const script of REDIS_SCRIPTS) this.redisScriptCalls.counter({ script });
  }

  /** Every family, in the order they are exposed. */
  get families(): readonly (MetricFamily | HistogramFamily)[] {
    return [
      this.decisions,
      this.cacheLookups,
      this.storeCalls,
      this.storeErrors,
      this.limiterCalls,
      this.limiterErrors,
      this.failOpen,
      this.usageBuffered,
      this.usageWritten,
      this.usageDropped,
      this.webhookDeliveries,
      this.redisScriptCalls,
    ];
  }

  decisionAllowed(): void {
    this.#allowed.inc();
  }

  decisionRefused(code: ErrorCode): void {
    this.#refused[code]?.inc();
  }

  /** Counts one look-up of the verification cache by its answer (`undefined`: a miss). */
  cacheLookup(answer: CacheAnswer): void {
    if (answer === undefined) this.#cacheMiss.inc();
    else if (answer.key === undefined) this.#cacheNegativeHit.inc();
    else this.#cacheHit.inc();
  }

  failedOpen(): void {
    this.#failOpen.inc();
  }

  /** Counts one webhook delivery attempt by how it ended. */
  webhookDelivery(result: WebhookDeliveryResult): void {
    this.#webhookDeliveries[result]?.inc();
  }

  /** The pre-bound counter of one Redis script (the Redis limiter binds each once). */
  redisScript(script: RedisScript): CountCell {
    return this.redisScriptCalls.counter({ script });
  }

  /** The pre-bound duration series of one store method. */
  storeCall(operation: string): TimingCell {
    return this.storeCalls.timing({ operation });
  }

  /** The pre-bound duration series of one limiter method. */
  limiterCall(operation: string): TimingCell {
    return this.limiterCalls.timing({ operation });
  }

  /** The usage recorder's totals, read whenever the metrics are read (nothing on the request path). */
  readUsage(stats: () => UsageRecorderStats): void {
    this.usageBuffered.reading(() => stats().buffered);
    this.usageWritten.reading(() => stats().written);
    this.usageDropped.reading(() => stats().dropped);
  }

  /** Sets every counted series back to zero. */
  reset(): void {
    for (const family of this.families) family.reset();
  }
}
