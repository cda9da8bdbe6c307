import { ERROR_CODES, KeyGuard, type Limiter, resolveConfig, type Store } from "@keyguard/core";
import { generateRawKey, REDIS_SCRIPTS, WEBHOOK_DELIVERY_RESULTS } from "@keyguard/core/internal";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterApp } from "./adapter-conformance.js";
import { eventually } from "./eventually.js";

/**
 * Starts the adapter's app on port 0: `keyguardMetrics(kg, options)` at `/metrics`,
 * `keyguard(kg, { protectedPath: "/api" })`, and `GET /api/data` (and any other path under
 * `/api`) answering 200 `{"ok": true}` once the guard let it through.
 */
export type StartMetricsApp = (kg: KeyGuard, options: { public?: boolean }) => Promise<AdapterApp>;

export interface MetricsConformanceOptions {
  readonly openStore: () => Promise<Store>;
  readonly createLimiter: () => Limiter;
}

const SECRET = "metrics-conformance-secret";
const ADMIN_KEY = "metrics-admin-key-0123";

/** One sample of the exposition, as the parser reads it. */
interface Sample {
  readonly value: number;
  readonly labels: Readonly<Record<string, string>>;
}

interface ParsedFamily {
  name: string;
  type: string;
  metrics: Array<{
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }>;
}

/** The exposition parsed by a real Prometheus text-format parser: samples by metric name. */
export function parseExposition(text: string): Map<string, { type: string; samples: Sample[] }> {
  const families = parsePrometheusTextFormat(text) as ParsedFamily[];
  const byName = new Map<string, { type: string; samples: Sample[] }>();
  for (const family of families) {
    byName.set(family.name, {
      type: family.type,
      samples: family.metrics.map((metric) => ({
        value: Number(metric.value ?? metric.count),
        labels: metric.labels ?? {},
      })),
    });
  }
  return byName;
}

/**
 * A histogram series' `_count`, read from the text: the parser merges the buckets of a
 * labelled histogram's series into one (it keeps labels only for label-less histograms),
 * so per-series counts are read from their `_count` line, which it has validated.
 */
function histogramCount(text: string, name: string, operation: string): number {
  const line = new RegExp(`^${name}_count\\{operation="${operation}"\\} (\\S+)$`, "m").exec(text);
  if (line === null) throw new Error(`${name}_count{operation="${operation}"} is not exposed`);
  return Number(line[1]);
}

/** The value of the first series of `name` whose labels include `labels`. */
export function sampleValue(
  parsed: ReturnType<typeof parseExposition>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = parsed.get(name);
  if (family === undefined) throw new Error(`${name} is not exposed`);
  const sample = family.samples.find((candidate) =>
    Object.entries(labels).every(([label, value]) => candidate.labels[label] === value),
  );
  if (sample === undefined) throw new Error(`${name}${JSON.stringify(labels)} is not exposed`);
  return sample.value;
}

/** Every label value KeyGuard may expose, per label name: fixed lists, nothing from requests. */
const ALLOWED_LABEL_VALUES: Record<string, (value: string) => boolean> = {
  outcome: (value) => value === "allowed" || value === "refused",
  code: (value) => value === "" || Object.hasOwn(ERROR_CODES, value),
  result: (value) => ["hit", "miss", "negative_hit", ...WEBHOOK_DELIVERY_RESULTS].includes(value),
  script: (value) => (REDIS_SCRIPTS as readonly string[]).includes(value),
  // Store and limiter method names: identifiers from the code.
  operation: (value) => /^[a-zA-Z]{1,64}$/.test(value),
  le: (value) => value === "+Inf" || Number.isFinite(Number(value)),
};

/**
 * Scrapes `keyguardMetrics` over real HTTP and reads the exposition with a real Prometheus
 * text-format parser: the decision counters equal the requests sent (allowed, 401s by
 * code, 429s), the cache, store, limiter and usage instruments agree with them, no label
 * value holds a key, a path or an address whatever requests sent, and without
 * `metrics.public` the endpoint answers 401 to a missing or wrong admin key.
 */
export function describeMetricsConformance(
  name: string,
  start: StartMetricsApp,
  options: MetricsConformanceOptions,
): void {
  describe(`${name}: Prometheus metrics`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    let limiterInProcess = false;
    async function setUp(publicMetrics: boolean | undefined) {
      const limiter = options.createLimiter();
      limiterInProcess = limiter.inProcess === true;
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET, adminKey: ADMIN_KEY }, {}),
        store: await options.openStore(),
        limiter,
        onWarning: () => {}, // the hostile requests' X-Forwarded-For, ignored on purpose
      });
      await kg.init();
      cleanups.push(() => kg.close());
      const app = await start(kg, publicMetrics === undefined ? {} : { public: publicMetrics });
      cleanups.push(() => app.close());
      return { kg, app };
    }

    async function scrape(app: AdapterApp) {
      const response = await fetch(`${app.url}/metrics`, { headers: { "x-admin-key": ADMIN_KEY } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      return { text, parsed: parseExposition(text) };
    }

    it("counts every decision by outcome and code, equal to the requests sent", async () => {
      const { kg, app } = await setUp(undefined);
      await kg.createOrganization("Metrics Org");
      const { rawKey } = await kg.createApiKey({
        organization: "Metrics Org",
        label: "metered",
        rateLimitPerMinute: 4,
      });
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(`${app.url}${path}`, { headers }).then(async (response) => {
          await response.arrayBuffer();
          return response.status;
        });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push(await get("/api/data", { "x-api-key": rawKey }));
      for (let i = 0; i < 3; i++) statuses.push(await get("/api/data", { "x-api-key": rawKey }));
      for (let i = 0; i < 5; i++) statuses.push(await get("/api/data"));
      // Well-formed but unknown: the first asks the store, the rest hit the negative cache.
      const unknownKey = generateRawKey().rawKey;
      for (let i = 0; i < 2; i++) statuses.push(await get("/api/data", { "x-api-key": "junk" }));
      expect(statuses).toEqual([
        200, 200, 200, 200, 429, 429, 429, 401, 401, 401, 401, 401, 401, 401,
      ]);
      // A revoked key is its own code.
      const revoked = await kg.createApiKey({ organization: "Metrics Org", label: "old" });
      await kg.revokeApiKey(revoked.key.id);
      expect(await get("/api/data", { "x-api-key": revoked.rawKey })).toBe(401);
      expect(await get("/api/data", { "x-api-key": unknownKey })).toBe(401);
      expect(await get("/api/data", { "x-api-key": unknownKey })).toBe(401);
      // Outside the protected path: no decision at all.
      expect(await get("/elsewhere")).toBe(404);

      const { text, parsed } = await scrape(app);
      const decisions = (outcome: string, code: string) =>
        sampleValue(parsed, "keyguard_decisions_total", { outcome, code });
      expect(parsed.get("keyguard_decisions_total")?.type).toBe("COUNTER");
      expect(decisions("allowed", "")).toBe(4);
      expect(decisions("refused", "rate_limited")).toBe(3);
      expect(decisions("refused", "missing_api_key")).toBe(5);
      // "junk" twice (malformed) and the unknown key twice.
      expect(decisions("refused", "invalid_api_key")).toBe(4);
      expect(decisions("refused", "revoked_api_key")).toBe(1);
      expect(decisions("refused", "quota_exceeded")).toBe(0);
      const allDecisions = parsed
        .get("keyguard_decisions_total")
        ?.samples.reduce((sum, sample) => sum + sample.value, 0);
      expect(allDecisions).toBe(statuses.length + 3);

      // The valid key: one miss, then hits; the revoked one a miss; the unknown one a miss,
      // then a negative hit. Malformed and missing keys never reach the cache.
      const cache = (result: string) =>
        sampleValue(parsed, "keyguard_verification_cache_lookups_total", { result });
      expect(cache("miss")).toBe(3);
      expect(cache("hit")).toBe(6);
      expect(cache("negative_hit")).toBe(1);
      // One key query per miss; one limiter decision per request of a valid key.
      const storeLookups = histogramCount(
        text,
        "keyguard_store_call_duration_seconds",
        "findApiKeyByHash",
      );
      expect(storeLookups).toBe(3);
      expect(parsed.get("keyguard_store_call_duration_seconds")?.type).toBe("HISTOGRAM");
      if (limiterInProcess) {
        // An in-process limiter's calls are not timed (see docs/metrics.md).
        expect(parsed.get("keyguard_limiter_call_duration_seconds")?.samples ?? []).toEqual([]);
      } else {
        expect(histogramCount(text, "keyguard_limiter_call_duration_seconds", "decide")).toBe(7);
      }
      expect(sampleValue(parsed, "keyguard_limiter_fail_open_total")).toBe(0);
      expect(
        sampleValue(parsed, "keyguard_webhook_deliveries_total", { result: "delivered" }),
      ).toBe(0);

      // Usage of every request whose key was identified (4 allowed, 3 refused for the
      // minute): waiting in memory or written, none dropped.
      await eventually(async () => {
        const { parsed: now } = await scrape(app);
        const buffered = sampleValue(now, "keyguard_usage_events_buffered");
        const written = sampleValue(now, "keyguard_usage_events_written_total");
        expect(buffered + written).toBe(7);
        expect(sampleValue(now, "keyguard_usage_events_dropped_total")).toBe(0);
      }, 5_000);
      await kg.flushUsage();
      const { parsed: flushed } = await scrape(app);
      expect(sampleValue(flushed, "keyguard_usage_events_written_total")).toBe(7);
      expect(sampleValue(flushed, "keyguard_usage_events_buffered")).toBe(0);
      // Scraping is no decision.
      expect(
        sampleValue(flushed, "keyguard_decisions_total", { outcome: "allowed", code: "" }),
      ).toBe(4);
    });

    it("never exposes a key, path or address as a label value, whatever requests send", async () => {
      const { kg, app } = await setUp(undefined);
      await kg.createOrganization("Hostile Org");
      const { rawKey, key } = await kg.createApiKey({
        organization: "Hostile Org",
        label: "hostile",
      });
      const hostilePaths = [
        `/api/${rawKey}`,
        "/api/%22%7D%20evil_total%201%0A%23",
        "/api/data%0Akeyguard_decisions_total%7Boutcome%3D%22allowed%22%7D%209999",
        "/api/..%2F..%2Fetc%2Fpasswd",
        `/api/${"x".repeat(2_000)}`,
        "/api/data?code=rate_limited&outcome=allowed",
      ];
      const hostileKeys = [
        'kg_live_"}\nkeyguard_decisions_total{outcome="allowed"} 1',
        "kg_live_../../../etc/passwd",
        `${rawKey.slice(0, -8)}ZZZZZZZZ`,
        "x".repeat(300),
      ];
      for (const path of hostilePaths) {
        const sends: Record<string, string>[] = [
          { "x-api-key": rawKey, "x-forwarded-for": "203.0.113.77" },
          { "x-forwarded-for": "198.51.100.23, 203.0.113.77" },
        ];
        for (const headers of sends) {
          const response = await fetch(`${app.url}${path}`, { headers });
          await response.arrayBuffer();
          expect(response.status).toBeLessThan(500);
        }
      }
      for (const hostileKey of hostileKeys) {
        const response = await fetch(`${app.url}/api/data`, {
          headers: { authorization: `Bearer ${hostileKey.replace(/\n/g, " ")}` },
        });
        await response.arrayBuffer();
        expect(response.status).toBe(401);
      }

      const { text, parsed } = await scrape(app);
      // Every label value is one of KeyGuard's fixed ones.
      for (const [metricName, family] of parsed) {
        expect(metricName).toMatch(/^keyguard_[a-z_]+$/);
        for (const sample of family.samples) {
          for (const [label, value] of Object.entries(sample.labels)) {
            const allowed = ALLOWED_LABEL_VALUES[label];
            expect(allowed, `label ${label} of ${metricName}`).toBeDefined();
            expect(allowed?.(value), `${metricName}{${label}="${value}"}`).toBe(true);
          }
        }
      }
      // And nothing the requests carried appears anywhere in the text.
      for (const secret of [
        rawKey,
        rawKey.slice(0, 16),
        key.id,
        key.orgId,
        "203.0.113.77",
        "198.51.100.23",
        "127.0.0.1",
        "::1",
        "evil",
        "passwd",
        "xxxxxxxxxx",
      ]) {
        expect(text).not.toContain(secret);
      }
      expect(
        sampleValue(parsed, "keyguard_decisions_total", { outcome: "allowed", code: "" }),
      ).toBe(hostilePaths.length);
    });

    it("answers 401 without the admin key unless metrics.public", async () => {
      const { app } = await setUp(undefined);
      const missing = await fetch(`${app.url}/metrics`);
      expect(missing.status).toBe(401);
      expect(missing.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(missing.headers.get("www-authenticate")).toBe(
        'ApiKey realm="keyguard-admin", header="X-Admin-Key"',
      );
      const body = await missing.text();
      expect(JSON.parse(body)).toMatchObject({ status: 401, code: "unauthorized" });
      expect(body).not.toContain("keyguard_");
      const wrong = await fetch(`${app.url}/metrics`, { headers: { "x-admin-key": SECRET } });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).not.toContain("keyguard_");
      const posted = await fetch(`${app.url}/metrics`, {
        method: "POST",
        headers: { "x-admin-key": ADMIN_KEY },
      });
      expect(posted.status).toBeGreaterThanOrEqual(400);
      expect(posted.status).toBeLessThan(500);
      await posted.arrayBuffer();
      await scrape(app);
    });

    it("serves anyone with metrics.public", async () => {
      const { app } = await setUp(true);
      const response = await fetch(`${app.url}/metrics`);
      expect(response.status).toBe(200);
      const parsed = parseExposition(await response.text());
      expect(
        sampleValue(parsed, "keyguard_decisions_total", { outcome: "allowed", code: "" }),
      ).toBe(0);
    });
  });
}
