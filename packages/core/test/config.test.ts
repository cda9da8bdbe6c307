import { describe, expect, it } from "vitest";
import { parseDatabaseUrl, redactUrl } from "../src/config/database-url.js";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { KeyGuardError } from "../src/errors/keyguard-error.js";

function configError(fn: () => unknown): KeyGuardError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyGuardError);
    expect((error as KeyGuardError).code).toBe("invalid_config");
    return error as KeyGuardError;
  }
  throw new Error("expected an invalid_config error");
}

describe("resolveConfig", () => {
  it("applies keyguard-python's defaults", () => {
    const config = resolveConfig({ secretKey: "my-secret" }, {});
    expect(config).toMatchObject({
      secretKey: "my-secret",
      databaseUrl: "sqlite:keyguard.db",
      defaultRateLimitPerMinute: 60,
      ipBlockThreshold: 100,
      keyEnvironment: "live",
    });
    expect(config.redisUrl).toBeUndefined();
    expect(config.database).toEqual({
      dialect: "sqlite",
      filename: `${process.cwd()}/keyguard.db`,
    });
  });

  it("reads every field from KEYGUARD_* variables, below explicit options", () => {
    const env = {
      KEYGUARD_SECRET_KEY: "secret-from-env",
      KEYGUARD_DATABASE_URL: "postgresql+asyncpg://app:pw@db.internal:5432/keys",
      KEYGUARD_REDIS_URL: "redis://cache:6379/0",
      KEYGUARD_DEFAULT_RATE_LIMIT_PER_MINUTE: "120",
      KEYGUARD_IP_BLOCK_THRESHOLD: "25",
    };
    const config = resolveConfig({}, env);
    expect(config).toMatchObject({
      secretKey: "secret-from-env",
      redisUrl: "redis://cache:6379/0",
      defaultRateLimitPerMinute: 120,
      ipBlockThreshold: 25,
    });
    expect(config.database).toEqual({
      dialect: "postgres",
      connectionString: "postgresql://app:pw@db.internal:5432/keys",
    });
    expect(resolveConfig({ defaultRateLimitPerMinute: 5 }, env).defaultRateLimitPerMinute).toBe(5);
  });

  it("bounds the database and keeps cached keys through outages by default, tunable from the environment", () => {
    const defaults = resolveConfig({ secretKey: "my-secret" }, {});
    expect(defaults.cache).toMatchObject({ ttlMs: 30_000, staleIfErrorMs: 3_600_000 });
    expect(defaults.postgres).toEqual({
      connectTimeoutMs: 5_000,
      queryTimeoutMs: 5_000,
      statementTimeoutMs: 4_000,
    });
    const env = {
      KEYGUARD_CACHE_TTL_MS: "1500",
      KEYGUARD_CACHE_STALE_IF_ERROR_MS: "0",
      KEYGUARD_POSTGRES_CONNECT_TIMEOUT_MS: "1000",
      KEYGUARD_POSTGRES_QUERY_TIMEOUT_MS: "2000",
      KEYGUARD_POSTGRES_STATEMENT_TIMEOUT_MS: "0",
    };
    const input = { secretKey: "my-secret", cache: { maxEntries: 5, ttlMs: 700 } };
    const config = resolveConfig(input, env);
    // Explicit options win, the environment fills the rest, the caller's object is untouched.
    expect(config.cache).toMatchObject({ maxEntries: 5, ttlMs: 700, staleIfErrorMs: 0 });
    expect(input.cache).toEqual({ maxEntries: 5, ttlMs: 700 });
    expect(config.postgres).toEqual({
      connectTimeoutMs: 1_000,
      queryTimeoutMs: 2_000,
      statementTimeoutMs: 0,
    });
    expect(
      configError(() =>
        resolveConfig({}, { KEYGUARD_SECRET_KEY: "long-enough", KEYGUARD_CACHE_TTL_MS: "soon" }),
      ).message,
    ).toMatch(/cache\.ttlMs/);
    expect(
      configError(() =>
        resolveConfig({ secretKey: "long-enough", postgres: { queryTimeoutMs: -5 } }, {}),
      ).message,
    ).toMatch(/postgres\.queryTimeoutMs must not be negative/);
  });

  it("reads the usage retention and spool settings from the environment, below explicit options", () => {
    const env = {
      KEYGUARD_USAGE_RETENTION_DAYS: "7",
      KEYGUARD_USAGE_ROLLUP_RETENTION_DAYS: "60",
      KEYGUARD_USAGE_SPOOL_DIRECTORY: "/var/spool/keyguard",
    };
    const passed = { batchSize: 10 };
    expect(resolveConfig({ secretKey: "my-secret", usage: passed }, env).usage).toMatchObject({
      batchSize: 10,
      retentionDays: 7,
      rollupRetentionDays: 60,
      spoolDirectory: "/var/spool/keyguard",
      rollupAfterHours: 24,
      maxSpoolBytes: 64 * 1024 * 1024,
    });
    expect(passed).toEqual({ batchSize: 10 }); // the caller's object is not filled in
    expect(
      resolveConfig({ secretKey: "my-secret", usage: { retentionDays: 2 } }, env).usage
        .retentionDays,
    ).toBe(2);
    expect(
      configError(() =>
        resolveConfig({ secretKey: "my-secret" }, { KEYGUARD_USAGE_RETENTION_DAYS: "0" }),
      ).message,
    ).toBe("usage.retentionDays must be greater than 0");
  });

  it("keeps rollups for at least a quota month: quotas are seeded from them", () => {
    // With 30 days, on the 31st the month's first hours would be deleted, and a quota
    // seeded again (a restart, Redis lost its data) would hand them out again.
    expect(
      configError(() =>
        resolveConfig({ secretKey: "my-secret", usage: { rollupRetentionDays: 30 } }, {}),
      ).message,
    ).toMatch(/usage.rollupRetentionDays must be at least 32/);
    expect(
      resolveConfig({ secretKey: "my-secret", usage: { rollupRetentionDays: 32 } }, {}).usage
        .rollupRetentionDays,
    ).toBe(32);
  });

  it("names the field of every mistake", () => {
    expect(configError(() => resolveConfig({}, {})).message).toMatch(
      /secretKey.*KEYGUARD_SECRET_KEY/,
    );
    expect(configError(() => resolveConfig({ secretKey: "short" }, {})).message).toMatch(
      /secretKey.*8 characters/,
    );
    expect(
      configError(() =>
        resolveConfig({ secretKey: "long-enough", defaultRateLimitPerMinute: 0 }, {}),
      ).message,
    ).toMatch(/defaultRateLimitPerMinute.*greater than 0/);
    expect(
      configError(() =>
        resolveConfig(
          {},
          { KEYGUARD_SECRET_KEY: "long-enough", KEYGUARD_IP_BLOCK_THRESHOLD: "many" },
        ),
      ).message,
    ).toMatch(/ipBlockThreshold/);
    expect(
      configError(() => resolveConfig({ secretKey: "long-enough", redisUrl: "http://x" }, {}))
        .message,
    ).toMatch(/redisUrl.*redis:\/\//);
    expect(
      configError(() => resolveConfig({ secretKey: "long-enough", databaseUrl: "mysql://x/y" }, {}))
        .message,
    ).toMatch(/databaseUrl.*"mysql:" is not supported/);
    expect(
      configError(() => resolveConfig({ secretKey: "long-enough", cache: { ttlMs: -1 } }, {}))
        .message,
    ).toMatch(/cache\.ttlMs/);
    expect(
      configError(() => resolveConfig({ secretKey: "long-enough", sercetKey: "typo" } as never, {}))
        .message,
    ).toMatch(/unknown option.*sercetKey/);
  });
});

describe("parseDatabaseUrl", () => {
  const cwd = "/srv/app";
  it.each([
    ["sqlite:keyguard.db", "/srv/app/keyguard.db"],
    ["sqlite:data/kg.db", "/srv/app/data/kg.db"],
    ["sqlite:/var/lib/kg.db", "/var/lib/kg.db"],
    ["sqlite:///keyguard.db", "/srv/app/keyguard.db"],
    ["sqlite:////var/lib/kg.db", "/var/lib/kg.db"],
    ["sqlite+aiosqlite:///keyguard.db", "/srv/app/keyguard.db"],
    ["sqlite+aiosqlite:////tmp/kg.db", "/tmp/kg.db"],
    ["sqlite::memory:", ":memory:"],
  ])("reads %s as a SQLite file", (url, filename) => {
    expect(parseDatabaseUrl(url, cwd)).toEqual({ dialect: "sqlite", filename });
  });

  it.each([
    ["postgres://u@h:5432/db", "postgresql://u@h:5432/db"],
    ["postgresql://u:p@h/db?sslmode=require", "postgresql://u:p@h/db?sslmode=require"],
    ["postgresql+asyncpg://user:pass@localhost/db", "postgresql://user:pass@localhost/db"],
  ])("reads %s as PostgreSQL", (url, connectionString) => {
    expect(parseDatabaseUrl(url, cwd)).toEqual({ dialect: "postgres", connectionString });
  });

  it("refuses unusable URLs without echoing a password", () => {
    for (const url of ["", "keyguard.db", "sqlite:", "mongodb://x", "postgres://"]) {
      expect(() => parseDatabaseUrl(url, cwd), url).toThrow(KeyGuardError);
    }
    try {
      parseDatabaseUrl("mysql://admin:hunter2@db/x", cwd);
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter2");
    }
    expect(redactUrl("postgres://admin:hunter2@db/x")).toBe("postgres://admin:***@db/x");
  });
});
