import type { DatabaseTarget } from "./config/database-url.js";
import { type KeyGuardConfigInput, resolveConfig } from "./config/keyguard-config.js";
import { KeyGuard, type KeyGuardOptions } from "./keyguard.js";
import { reportToOpenTelemetry } from "./metrics/open-telemetry-bridge.js";
import type { ChangeFeed } from "./ports/change-feed.js";
import type { Limiter } from "./ports/limiter.js";
import type { Store } from "./ports/store.js";
import { usageSpoolFor } from "./usage/usage-spool.js";
import { rateLimitErrors, warnBackgroundError } from "./util/background-error.js";
import type { Clock } from "./util/clock.js";
import { loadOptionalModule } from "./util/load-optional-module.js";

export interface CreateKeyGuardOptions {
  /** A store to use instead of the one `databaseUrl` names. */
  readonly store?: Store;
  /** A limiter to use instead of the one configuration picks (memory, or Redis with `redisUrl`). */
  readonly limiter?: Limiter;
  /**
   * A change feed to use instead of the one configuration brings: Redis pub/sub with
   * `redisUrl`, else the database's own (PostgreSQL LISTEN/NOTIFY, SQLite's change log).
   */
  readonly changeFeed?: ChangeFeed;
  readonly clock?: Clock;
  /** Run migrations before returning (default `true`). */
  readonly migrate?: boolean;
  readonly onBackgroundError?: (error: unknown) => void;
  /** Told about likely misconfigurations seen in traffic (see `KeyGuardOptions.onWarning`). */
  readonly onWarning?: (code: string, message: string) => void;
  /** Told about shadow policies' would-be refusals (see `KeyGuardOptions.onShadowRefusal`). */
  readonly onShadowRefusal?: KeyGuardOptions["onShadowRefusal"];
  /** Where `KEYGUARD_*` variables are read from (default `process.env`). */
  readonly env?: Record<string, string | undefined>;
  /** `false` allows a missing secret for tooling that never hashes (see `resolveConfig`). */
  readonly requireSecret?: boolean;
}

/** What core needs from `@keyguard/store-kysely`; imported by name so core stays driver-free. */
interface StoreModule {
  createKyselyStore(options: {
    database: DatabaseTarget;
    connectTimeoutMs: number;
    queryTimeoutMs: number;
    statementTimeoutMs: number;
    onError: (error: unknown) => void;
  }): Promise<Store>;
}

interface MemoryLimiterModule {
  MemoryLimiter: new () => Limiter;
}

interface RedisLimiterModule {
  createRedisBackend(options: {
    url: string;
    prefix: string;
    slotLeaseMs?: number;
    onError?: (error: unknown) => void;
  }): Promise<{ limiter: Limiter; changeFeed: ChangeFeed }>;
}

// Variables, so bundlers and TypeScript leave the optional packages unresolved until used.
const STORE_PACKAGE = "@keyguard/store-kysely";
const MEMORY_LIMITER_PACKAGE = "@keyguard/limiter-memory";
const REDIS_LIMITER_PACKAGE = "@keyguard/limiter-redis";

/**
 * Builds a ready KeyGuard from configuration: validates it, opens the store named by
 * `databaseUrl` (SQLite file by default, PostgreSQL for `postgres://` URLs) and migrates it,
 * and picks the limiter: in memory by default, Redis (shared by every process, with
 * instant key revocation everywhere) when `redisUrl` is set.
 *
 * @example
 * ```ts
 * // Zero infrastructure: a keyguard.db file next to your app.
 * const kg = await createKeyGuard({ secretKey: "my-secret" });
 *
 * // Production: PostgreSQL.
 * const kg = await createKeyGuard({
 *   secretKey: process.env.KEYGUARD_SECRET_KEY,
 *   databaseUrl: "postgres://app@db:5432/app",
 * });
 * ```
 */
export async function createKeyGuard(
  config: Partial<KeyGuardConfigInput> = {},
  options: CreateKeyGuardOptions = {},
): Promise<KeyGuard> {
  const resolved = resolveConfig(config, options.env, { requireSecret: options.requireSecret });
  let store = options.store;
  // Spooled usage belongs to the database it was meant for: only for the one opened here.
  const usageSpool =
    store === undefined ? usageSpoolFor(resolved.database, resolved.usage) : undefined;
  if (store === undefined) {
    const { createKyselyStore } = await loadOptionalModule(
      STORE_PACKAGE,
      `databaseUrl ${resolved.database.dialect === "sqlite" ? "(SQLite)" : "(PostgreSQL)"}`,
      () => import(STORE_PACKAGE) as Promise<StoreModule>,
    );
    store = await createKyselyStore({
      database: resolved.database,
      ...resolved.postgres,
      onError: options.onBackgroundError ?? warnBackgroundError,
    });
  }
  // One rate-limited reporter for the Redis backend and KeyGuard, so they share the budget.
  const report = rateLimitErrors(options.onBackgroundError ?? warnBackgroundError, {
    clock: options.clock,
  });
  let limiter = options.limiter;
  let changeFeed = options.changeFeed;
  if (limiter === undefined && resolved.redisUrl !== undefined) {
    const { createRedisBackend } = await loadOptionalModule(
      REDIS_LIMITER_PACKAGE,
      "redisUrl (rate limits shared through Redis)",
      () => import(REDIS_LIMITER_PACKAGE) as Promise<RedisLimiterModule>,
    );
    const backend = await createRedisBackend({
      url: resolved.redisUrl,
      prefix: resolved.redisPrefix,
      slotLeaseMs: resolved.redisSlotLeaseMs,
      onError: report,
    });
    limiter = backend.limiter;
    changeFeed ??= backend.changeFeed;
  }
  // Without Redis, a database that can announce changes itself (PostgreSQL LISTEN/NOTIFY,
  // SQLite's polled change log) tells every process; a limiter passed in brings no feed.
  if (changeFeed === undefined && resolved.redisUrl === undefined) {
    try {
      changeFeed = await store.openChangeFeed?.({ onError: report });
    } catch (error) {
      if (options.store === undefined) await store.close().catch(() => {});
      throw error;
    }
  }
  if (limiter === undefined) {
    const { MemoryLimiter } = await loadOptionalModule(
      MEMORY_LIMITER_PACKAGE,
      "Rate limiting in one process",
      () => import(MEMORY_LIMITER_PACKAGE) as Promise<MemoryLimiterModule>,
    );
    limiter = new MemoryLimiter();
  }
  const kg = new KeyGuard({
    config: resolved,
    store,
    limiter,
    changeFeed,
    clock: options.clock,
    onBackgroundError: report,
    onWarning: options.onWarning,
    onShadowRefusal: options.onShadowRefusal,
    usageSpool,
  });
  // Reported through OpenTelemetry too when its API is installed and a provider registered.
  await reportToOpenTelemetry(kg.instruments);
  if (options.migrate ?? true) {
    try {
      await kg.init();
    } catch (error) {
      await kg.close().catch(() => {});
      throw error;
    }
  }
  return kg;
}
