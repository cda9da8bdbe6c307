import { setTimeout as sleep } from "node:timers/promises";
import { redactUrl } from "@keyguard/core/internal";
import { Redis, type RedisOptions } from "ioredis";
import { RedisChangeFeed } from "./redis-change-feed.js";
import { RedisKeyNames } from "./redis-key-names.js";
import { RedisLimiter } from "./redis-limiter.js";

export interface RedisBackendOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** Key prefix (default `"keyguard:"`). */
  readonly prefix?: string;
  /**
   * How long one command may take before the request it serves fails (503, or passes with
   * `failOpen`). Default 1000 ms: a slow Redis must not hold requests for long.
   */
  readonly commandTimeoutMs?: number;
  /** How long start-up waits for a first connection before going on without. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** How long a concurrency slot lives unless given back (`RedisLimiterOptions.slotLeaseMs`). */
  readonly slotLeaseMs?: number;
  /** Told once per outage that Redis is unreachable (never thrown). */
  readonly onError?: (error: unknown) => void;
  /** More ioredis options, applied last (TLS settings, say). */
  readonly redisOptions?: RedisOptions;
}

/** A limiter and a change feed on one Redis, ready for `new KeyGuard({ limiter, changeFeed })`. */
export interface RedisBackend {
  readonly limiter: RedisLimiter;
  readonly changeFeed: RedisChangeFeed;
  /** True once connected; false if Redis did not answer within `connectTimeoutMs`. */
  readonly connected: boolean;
}

/**
 * Connects to Redis the way a request path needs: commands fail at once while Redis is
 * unreachable (no offline queue piling requests up), each command has a timeout, and the
 * connection keeps retrying in the background, so limiting resumes by itself when Redis is
 * back. An unreachable Redis at start-up is not fatal either: requests are answered 503
 * (or pass, with `failOpen`) until it answers.
 *
 * @example
 * ```ts
 * const { limiter, changeFeed } = await createRedisBackend({ url: "redis://127.0.0.1:6379" });
 * ```
 */
export async function createRedisBackend(options: RedisBackendOptions): Promise<RedisBackend> {
  const names = new RedisKeyNames(options.prefix ?? "keyguard:");
  const report = outageReporter(options.url, options.onError);
  const commands = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    ...options.redisOptions,
  });
  // The change feed subscribes each time this connection is ready, handling the reply.
  // ioredis's own re-subscription leaves its promise unhandled: closed mid-reconnection, it
  // surfaced as an unhandled rejection ("Connection is closed.").
  const subscriber = new Redis(options.url, {
    autoResubscribe: false,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    ...options.redisOptions,
  });
  for (const connection of [commands, subscriber]) {
    connection.on("error", report.error);
    connection.on("ready", report.recovered);
  }
  const changeFeed = new RedisChangeFeed({
    publisher: commands,
    subscriber,
    channel: names.changes,
    ownsSubscriber: true,
    onError: options.onError,
  });
  const limiter = new RedisLimiter({
    redis: commands,
    prefix: names.prefix,
    changeFeed,
    ownsConnection: true,
    ...(options.slotLeaseMs === undefined ? {} : { slotLeaseMs: options.slotLeaseMs }),
  });
  const connected = await Promise.race([
    // Not events.once: it would reject on the first connection error, which is expected here.
    new Promise<boolean>((resolve) => commands.once("ready", () => resolve(true))),
    sleep(options.connectTimeoutMs ?? 2_000, false, { ref: false }),
  ]);
  return { limiter, changeFeed, connected };
}

/** Reports an outage once, not once per reconnection attempt. */
function outageReporter(url: string, onError: ((error: unknown) => void) | undefined) {
  let down = false;
  return {
    error: (error: Error) => {
      if (down) return;
      down = true;
      // A code of its own: a rate-limited reporter (`rateLimitErrors`) must not take it
      // for one more plain Error and count it away.
      const outage = new Error(
        `Redis at ${redactUrl(url)} is unreachable (${error.message}); protected requests are refused with 503 (or let through with failOpen) until it is back.`,
      );
      onError?.(Object.assign(outage, { code: "KEYGUARD_REDIS_UNREACHABLE" }));
    },
    recovered: () => {
      down = false;
    },
  };
}
