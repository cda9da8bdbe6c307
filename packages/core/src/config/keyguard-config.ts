import { z } from "zod";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { configuredRules } from "../ip-rules/ip-rule-service.js";
import { DEFAULT_ALGORITHM } from "../limits/window-decision.js";
import { webhookConfigSchema } from "../webhooks/webhook-config.js";
import { type DatabaseTarget, parseDatabaseUrl } from "./database-url.js";

const positiveInt = (field: string) =>
  z.coerce
    .number({ error: `${field} must be a number` })
    .int(`${field} must be a whole number`)
    .positive(`${field} must be greater than 0`)
    .max(Number.MAX_SAFE_INTEGER, `${field} is too large`);

const nonNegativeInt = (field: string) =>
  z.coerce
    .number({ error: `${field} must be a number` })
    .int(`${field} must be a whole number`)
    .min(0, `${field} must not be negative`)
    .max(Number.MAX_SAFE_INTEGER, `${field} is too large`);

/** `true`/`false` (also `1`/`0`, `yes`/`no` from the environment). */
const booleanFlag = (field: string) =>
  z.preprocess(
    (value) =>
      typeof value === "string" ? (FLAG_WORDS[value.trim().toLowerCase()] ?? value) : value,
    z.boolean({ error: `${field} must be true or false` }),
  );

const FLAG_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  "1": true,
  "0": false,
  yes: true,
  no: false,
};

const configSchema = z.object({
  secretKey: z
    .string({ error: "secretKey must be a string" })
    .min(8, "secretKey must be at least 8 characters; use a long random value")
    .optional(),
  /**
   * Secrets a rotation retired (`rotateSecret`), still tried, after `secretKey`, for keys
   * made before it: a key's hash cannot be recomputed without its raw key, so these keys
   * work only while their secret is listed here. From the environment: comma-separated in
   * `KEYGUARD_PREVIOUS_SECRET_KEYS`.
   */
  previousSecretKeys: z
    .preprocess(
      (value) =>
        typeof value === "string"
          ? value
              .split(",")
              .map((part) => part.trim())
              .filter(Boolean)
          : value,
      z
        .array(
          z
            .string({ error: "previousSecretKeys must be a list of strings" })
            .min(8, "previousSecretKeys: each secret must be at least 8 characters"),
          { error: "previousSecretKeys must be a list of secrets" },
        )
        .max(8, "previousSecretKeys: at most 8 secrets (each is tried for every unknown key)"),
    )
    .default([]),
  /**
   * keyguard-python's SECRET_KEY, for keys imported from it (`keyguard import-python`):
   * they are verified by SHA-256(raw key + this) and re-stored under KeyGuard's HMAC on
   * first use. Not needed once `stats` shows no legacy hashes.
   */
  legacySecret: z
    .string({ error: "legacySecret must be a string" })
    .min(1, "legacySecret must not be empty")
    .optional(),
  /** The admin API's `X-Admin-Key`; defaults to `secretKey`, as in keyguard-python. */
  adminKey: z
    .string({ error: "adminKey must be a string" })
    .min(8, "adminKey must be at least 8 characters; use a long random value")
    .optional(),
  databaseUrl: z.string().min(1).default("sqlite:keyguard.db"),
  redisUrl: z
    .string()
    .regex(/^rediss?:\/\//i, "redisUrl must start with redis:// or rediss://")
    .optional(),
  /** Put in front of KeyGuard's Redis key names, so several apps can share one Redis. */
  redisPrefix: z
    .string()
    .regex(
      /^[A-Za-z0-9:_.-]{0,64}$/,
      "redisPrefix may only hold letters, digits and : _ . - (at most 64 characters)",
    )
    .default("keyguard:"),
  /**
   * How long a concurrency slot lives on Redis unless given back (the request's process
   * died, or its release was lost): 1 s to 24 h, default 60 s. A request that runs longer
   * no longer holds its slot once its lease ends: set it above your longest request.
   */
  redisSlotLeaseMs: positiveInt("redisSlotLeaseMs")
    .min(1_000, "redisSlotLeaseMs must be at least 1000 (1 s)")
    .max(86_400_000, "redisSlotLeaseMs must be at most 86400000 (24 h)")
    .default(60_000),
  defaultRateLimitPerMinute: positiveInt("defaultRateLimitPerMinute").default(60),
  /**
   * How keys' windows count when neither the window nor the guard names an algorithm (the
   * seed's sliding-window log by default). Counters are kept per algorithm, so the servers
   * of a deployment and its admin tooling should agree on it: the live figures of
   * `GET /admin/keys/{id}` are read with this one.
   */
  algorithm: z
    .enum(["sliding-window-log", "sliding-window-counter", "gcra"], {
      error: 'algorithm must be "sliding-window-log", "sliding-window-counter" or "gcra"',
    })
    .default(DEFAULT_ALGORITHM),
  ipBlockThreshold: positiveInt("ipBlockThreshold").default(100),
  /** Whether new keys are `kg_live_...` or `kg_test_...` unless a caller says otherwise. */
  keyEnvironment: z.enum(["live", "test"]).default("live"),
  /**
   * Whose `X-Forwarded-For` to believe (see `TrustProxy`): `false` (default: the socket's
   * peer is the client), a hop count, or proxy addresses / CIDRs. From the environment:
   * `KEYGUARD_TRUST_PROXY=1` or `=10.0.0.0/8,loopback`.
   */
  trustProxy: z
    .preprocess(
      (value) => {
        if (typeof value !== "string") return value;
        const text = value.trim();
        if (text === "" || text === "false") return false;
        if (/^\d+$/.test(text)) return Number(text);
        return text
          .split(",")
          .map((part) => part.trim())
          .filter(Boolean);
      },
      z.union(
        [
          z.literal(false),
          z.number().int("trustProxy must be a whole number of hops").min(0),
          z.array(z.string()).min(1),
        ],
        { error: "trustProxy must be false, a number of proxy hops, or a list of proxy addresses" },
      ),
    )
    // 0 hops trusts no proxy: it is false, so ignored X-Forwarded-For headers are reported.
    .transform((value) => (value === 0 ? false : value))
    .default(false),
  /** IPv6 clients are limited and blocked per prefix of this length; `false` = per address. */
  ipv6Subnet: z
    .union([z.literal(false), z.number().int().min(1).max(128)], {
      error: "ipv6Subnet must be a prefix length from 1 to 128, or false",
    })
    .default(64),
  /** Time zone for clock-time lockouts such as `"4:00 PM"` (IANA name). */
  timeZone: z
    .string()
    .refine(isTimeZone, "timeZone must be an IANA time zone such as UTC or Europe/Paris")
    .default("UTC"),
  /**
   * IP allow and deny rules by address or CIDR (see `IpRuleService`): `allow` is never
   * limited or blocked, `deny` is always refused (403 `ip_denied`); deny wins where both
   * match. Each entry is checked when KeyGuard starts. From the environment:
   * `KEYGUARD_IP_ALLOW=10.0.0.0/8,fd00::/8`, `KEYGUARD_IP_DENY=...`.
   */
  ipRules: z
    .object({ allow: cidrList("ipRules.allow"), deny: cidrList("ipRules.deny") })
    .strict()
    .prefault({}),
  /** How often manual IP blocks are re-read from the database (other processes' blocks). */
  blockSyncIntervalMs: positiveInt("blockSyncIntervalMs").default(2_000),
  cache: z
    .object({
      maxEntries: positiveInt("cache.maxEntries").default(10_000),
      ttlMs: positiveInt("cache.ttlMs").default(30_000),
      negativeTtlMs: positiveInt("cache.negativeTtlMs").default(5_000),
      /**
       * How much longer than `ttlMs` a cached key keeps working while the database cannot
       * be reached (stale-if-error); 0 = refuse (503) as soon as its TTL has passed.
       */
      staleIfErrorMs: nonNegativeInt("cache.staleIfErrorMs").default(60 * 60 * 1000),
      /**
       * Most unknown key hashes remembered (for `negativeTtlMs`), apart from the known keys:
       * a flood of unknown keys then evicts only other unknown keys.
       */
      negativeMaxEntries: positiveInt("cache.negativeMaxEntries").default(10_000),
    })
    .strict()
    .prefault({}),
  /** The audit log (every change, see `kg.listAuditEvents`). */
  audit: z
    .object({
      /** Events are deleted after this many days (in the background, by servers). */
      retentionDays: positiveInt("audit.retentionDays")
        .max(36_500, "audit.retentionDays must be at most 36500 (100 years)")
        .default(365),
      /** How often servers delete events older than `retentionDays`. */
      maintenanceIntervalMs: positiveInt("audit.maintenanceIntervalMs").default(60 * 60_000),
    })
    .strict()
    .prefault({}),
  /**
   * Bounds on every wait for PostgreSQL (SQLite ignores them): a database that is down,
   * unreachable or stalled makes what needs it fail with `database_unavailable` within
   * these, instead of hanging requests and shutdown. 0 = no bound.
   */
  postgres: z
    .object({
      connectTimeoutMs: nonNegativeInt("postgres.connectTimeoutMs").default(5_000),
      queryTimeoutMs: nonNegativeInt("postgres.queryTimeoutMs").default(5_000),
      statementTimeoutMs: nonNegativeInt("postgres.statementTimeoutMs").default(4_000),
    })
    .strict()
    .prefault({}),
  usage: z
    .object({
      batchSize: positiveInt("usage.batchSize").default(500),
      flushIntervalMs: positiveInt("usage.flushIntervalMs").default(1_000),
      maxBuffered: positiveInt("usage.maxBuffered").default(100_000),
      /**
       * Where usage that could not be written at shutdown (the store unreachable) is kept
       * until the next start writes it: a file per shutdown, mode 0600. Default: the
       * SQLite file's directory; for PostgreSQL the working directory.
       */
      spoolDirectory: z.string().min(1, "usage.spoolDirectory must not be empty").optional(),
      /** Most bytes all spool files of a database may hold together; rows beyond are dropped, counted. */
      maxSpoolBytes: positiveInt("usage.maxSpoolBytes").default(64 * 1024 * 1024),
      /** Usage rows are summed into per-hour rollups once older than this. */
      rollupAfterHours: positiveInt("usage.rollupAfterHours").default(24),
      /** Usage rows (per request detail: path, client, latency) are deleted after this. */
      retentionDays: positiveInt("usage.retentionDays").default(90),
      /**
       * Rollups (per key, hour and status class) are deleted after this. At least 32 days:
       * a quota is seeded from the (UTC) month's usage, rollups included, and a month is
       * at most 31 days (one more to spare).
       */
      rollupRetentionDays: positiveInt("usage.rollupRetentionDays")
        .min(
          32,
          "usage.rollupRetentionDays must be at least 32: monthly quotas are counted from the rollups of the whole month",
        )
        .default(400),
      /** How often servers roll up and delete old usage (in the background, in batches). */
      maintenanceIntervalMs: positiveInt("usage.maintenanceIntervalMs").default(10 * 60_000),
      /** Rows rolled up or deleted per transaction: short transactions, no long lock. */
      maintenanceBatchSize: positiveInt("usage.maintenanceBatchSize")
        .max(10_000, "usage.maintenanceBatchSize must be at most 10000")
        .default(2_000),
    })
    .strict()
    .prefault({}),
  /** The Prometheus endpoint (`keyguardMetrics(kg)` in each adapter). */
  metrics: z
    .object({
      /**
       * Serve `/metrics` without the admin key. Default `false`: metrics say how a
       * deployment is doing (refusals, errors), which an attacker should not read.
       */
      public: booleanFlag("metrics.public").default(false),
    })
    .strict()
    .prefault({}),
  /** Webhook delivery (see `webhooks/webhook-config.ts`). */
  webhooks: webhookConfigSchema,
});

/** What a user passes to `createKeyGuard` (every field optional but the secret). */
export type KeyGuardConfigInput = z.input<typeof configSchema>;

/** The validated configuration, with defaults applied and `databaseUrl` understood. */
export type KeyGuardConfig = z.output<typeof configSchema> & {
  readonly database: DatabaseTarget;
};

export interface ResolveConfigOptions {
  /**
   * `false` lets tooling (the CLI's read-only commands) work without the secret. Operations
   * that hash a raw key then fail with `invalid_config` saying the secret is needed.
   */
  readonly requireSecret?: boolean;
}

/**
 * The environment variable that supplies each field when it is not passed: every top-level
 * one, and a few nested ones ("section.field") an operator tunes per deployment.
 */
export const CONFIG_ENV_VARS = {
  secretKey: "KEYGUARD_SECRET_KEY",
  previousSecretKeys: "KEYGUARD_PREVIOUS_SECRET_KEYS",
  legacySecret: "KEYGUARD_LEGACY_SECRET",
  databaseUrl: "KEYGUARD_DATABASE_URL",
  adminKey: "KEYGUARD_ADMIN_KEY",
  redisUrl: "KEYGUARD_REDIS_URL",
  redisPrefix: "KEYGUARD_REDIS_PREFIX",
  redisSlotLeaseMs: "KEYGUARD_REDIS_SLOT_LEASE_MS",
  defaultRateLimitPerMinute: "KEYGUARD_DEFAULT_RATE_LIMIT_PER_MINUTE",
  algorithm: "KEYGUARD_ALGORITHM",
  ipBlockThreshold: "KEYGUARD_IP_BLOCK_THRESHOLD",
  trustProxy: "KEYGUARD_TRUST_PROXY",
  "ipRules.allow": "KEYGUARD_IP_ALLOW",
  "ipRules.deny": "KEYGUARD_IP_DENY",
  timeZone: "KEYGUARD_TIME_ZONE",
  "cache.ttlMs": "KEYGUARD_CACHE_TTL_MS",
  "cache.staleIfErrorMs": "KEYGUARD_CACHE_STALE_IF_ERROR_MS",
  "postgres.connectTimeoutMs": "KEYGUARD_POSTGRES_CONNECT_TIMEOUT_MS",
  "postgres.queryTimeoutMs": "KEYGUARD_POSTGRES_QUERY_TIMEOUT_MS",
  "postgres.statementTimeoutMs": "KEYGUARD_POSTGRES_STATEMENT_TIMEOUT_MS",
  "usage.spoolDirectory": "KEYGUARD_USAGE_SPOOL_DIRECTORY",
  "usage.retentionDays": "KEYGUARD_USAGE_RETENTION_DAYS",
  "usage.rollupRetentionDays": "KEYGUARD_USAGE_ROLLUP_RETENTION_DAYS",
  "metrics.public": "KEYGUARD_METRICS_PUBLIC",
  "webhooks.enabled": "KEYGUARD_WEBHOOKS_ENABLED",
  "webhooks.pollIntervalMs": "KEYGUARD_WEBHOOKS_POLL_INTERVAL_MS",
  "webhooks.timeoutMs": "KEYGUARD_WEBHOOKS_TIMEOUT_MS",
  "webhooks.leaseMarginMs": "KEYGUARD_WEBHOOKS_LEASE_MARGIN_MS",
  "webhooks.initialBackoffMs": "KEYGUARD_WEBHOOKS_INITIAL_BACKOFF_MS",
  "webhooks.maxBackoffMs": "KEYGUARD_WEBHOOKS_MAX_BACKOFF_MS",
  "webhooks.retryWindowMs": "KEYGUARD_WEBHOOKS_RETRY_WINDOW_MS",
  "webhooks.expiringDays": "KEYGUARD_WEBHOOKS_EXPIRING_DAYS",
  "webhooks.creditsLowPercent": "KEYGUARD_WEBHOOKS_CREDITS_LOW_PERCENT",
  "audit.retentionDays": "KEYGUARD_AUDIT_RETENTION_DAYS",
} as const;

/** A list of CIDRs, or comma-separated text (from the environment); entries checked by `IpRuleService`. */
function cidrList(field: string) {
  return z
    .preprocess(
      (value) =>
        typeof value === "string"
          ? value
              .split(",")
              .map((part) => part.trim())
              .filter(Boolean)
          : value,
      z
        .array(z.string({ error: `${field} entries must be text` }), {
          error: `${field} must be a list of IP addresses or CIDRs`,
        })
        .max(10_000, `${field} may hold at most 10000 entries`),
    )
    .default([]);
}

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a configuration, filling each missing field from its `KEYGUARD_*` environment
 * variable and then from keyguard-python's defaults. Throws `invalid_config` naming the field.
 *
 * @example
 * ```ts
 * const config = resolveConfig({ secretKey: "a-long-random-secret" });
 * config.databaseUrl; // "sqlite:keyguard.db"
 * ```
 */
export function resolveConfig(
  input: Partial<KeyGuardConfigInput> = {},
  env: Record<string, string | undefined> = process.env,
  options: ResolveConfigOptions = {},
): KeyGuardConfig {
  const merged: Record<string, unknown> = { ...input };
  for (const [path, variable] of Object.entries(CONFIG_ENV_VARS)) {
    const fromEnv = env[variable];
    if (fromEnv === undefined || fromEnv === "") continue;
    // "section.field": filled in a copy of the section, never the caller's object.
    const [field, nested] = path.split(".") as [string, string | undefined];
    if (nested === undefined) {
      if (merged[field] === undefined) merged[field] = fromEnv;
      continue;
    }
    const section = merged[field] ?? {};
    if (typeof section !== "object" || section === null) continue; // the schema says why
    if ((section as Record<string, unknown>)[nested] === undefined) {
      merged[field] = { ...section, [nested]: fromEnv };
    }
  }
  const parsed = configSchema.strict().safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "config";
    const message =
      issue?.code === "unrecognized_keys"
        ? `unknown option(s): ${issue.keys.join(", ")}`
        : (issue?.message ?? "invalid");
    throw new KeyGuardError(
      "invalid_config",
      message.startsWith(field) ? message : `${field}: ${message}`,
      { details: { field } },
    );
  }
  if (parsed.data.secretKey === undefined && options.requireSecret !== false) {
    throw new KeyGuardError(
      "invalid_config",
      "secretKey is required: pass it or set KEYGUARD_SECRET_KEY",
      { details: { field: "secretKey" } },
    );
  }
  if (parsed.data.previousSecretKeys.includes(parsed.data.secretKey as string)) {
    throw new KeyGuardError(
      "invalid_config",
      "previousSecretKeys must not hold secretKey itself: list only the secrets a rotation retired",
      { details: { field: "previousSecretKeys" } },
    );
  }
  configuredRules(parsed.data.ipRules); // each entry an address or CIDR: invalid_config otherwise
  return { ...parsed.data, database: parseDatabaseUrl(parsed.data.databaseUrl) };
}
