import { metrics } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { Registry, register } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { createKeyGuard } from "../src/create-keyguard.js";
import { QuotaSeedLostError } from "../src/errors/quota-seed-lost.js";
import { KeyGuard } from "../src/keyguard.js";
import { KeyGuardInstruments } from "../src/metrics/keyguard-instruments.js";
import { reportToOpenTelemetry } from "../src/metrics/open-telemetry-bridge.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { LimitDecision, LimitRequest } from "../src/ports/limiter.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";

/** A limiter that fails like Redis does when told to, or loses a seeded quota once. */
class FailingLimiter extends InMemoryLimiter {
  failWith: unknown;
  loseSeed = false;

  override async decide(request: LimitRequest): Promise<LimitDecision> {
    if (this.failWith !== undefined) throw this.failWith;
    if (this.loseSeed && request.key !== undefined) {
      this.loseSeed = false;
      throw new QuotaSeedLostError(request.key.id);
    }
    return super.decide(request);
  }

  async seedQuota(): Promise<void> {}
}

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
  metrics.disable();
});

function requestWith(rawKey: string | undefined): GuardRequest {
  return {
    method: "GET",
    path: "/api/data",
    remoteAddress: "203.0.113.7",
    header: (name) => (name === "x-api-key" ? rawKey : undefined),
  };
}

async function keyIn(kg: KeyGuard, monthlyLimit?: number): Promise<string> {
  await kg.createOrganization("Acme Corp");
  const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k", monthlyLimit });
  return rawKey;
}

/** The value of one series in the Prometheus exposition (`name` may be a histogram's `_count`). */
async function promValue(kg: KeyGuard, name: string, labels = ""): Promise<number> {
  const family = name.replace(/_count$/, "");
  const text = await kg.metrics.getSingleMetricAsString(family);
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  if (line === undefined) throw new Error(`${name}${labels} not in:\n${text}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("kg.metrics", () => {
  it("is a registry of its own, which an application can merge with its own", async () => {
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "metrics-test-secret" }, {}),
      store: new InMemoryStore(),
      limiter: new InMemoryLimiter(),
    });
    open.push(kg);
    expect(kg.metrics).toBeInstanceOf(Registry);
    expect(kg.metrics).not.toBe(register);
    expect(await register.metrics()).not.toContain("keyguard_");
    const app = new Registry();
    const merged = Registry.merge([app, kg.metrics]);
    expect(await merged.metrics()).toContain("# TYPE keyguard_decisions_total counter");
    expect(await merged.metrics()).toContain(
      "# TYPE keyguard_store_call_duration_seconds histogram",
    );
  });

  it("counts fail-open passes and limiter errors, but not a lost seed", async () => {
    const limiter = new FailingLimiter();
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "metrics-test-secret" }, {}),
      store: new InMemoryStore(),
      limiter,
      onBackgroundError: () => {},
      onWarning: () => {},
    });
    open.push(kg);
    const rawKey = await keyIn(kg, 1_000);
    const closed = kg.guard();
    const open_ = kg.guard({ failOpen: true });
    limiter.loseSeed = true;
    expect((await closed.check(requestWith(rawKey))).allowed).toBe(true);
    limiter.failWith = new Error("OOM command not allowed");
    const refused = await closed.check(requestWith(rawKey));
    expect(refused.allowed ? 200 : refused.status).toBe(503);
    for (let i = 0; i < 3; i++) expect((await open_.check(requestWith(rawKey))).allowed).toBe(true);

    expect(await promValue(kg, "keyguard_limiter_fail_open_total")).toBe(3);
    expect(await promValue(kg, "keyguard_limiter_errors_total", '{operation="decide"}')).toBe(4);
    expect(
      await promValue(
        kg,
        "keyguard_decisions_total",
        '{outcome="refused",code="service_unavailable"}',
      ),
    ).toBe(1);
    expect(await promValue(kg, "keyguard_decisions_total", '{outcome="allowed",code=""}')).toBe(4);
    // The seed-lost decision was retried: two decide calls for the first request.
    expect(
      await promValue(kg, "keyguard_limiter_call_duration_seconds_count", '{operation="decide"}'),
    ).toBe(6);
  });

  it("counts webhook deliveries by result through the instrument", async () => {
    const instruments = new KeyGuardInstruments();
    instruments.webhookDelivery("delivered");
    instruments.webhookDelivery("failed");
    instruments.webhookDelivery("failed");
    const values = Object.fromEntries(
      instruments.webhookDeliveries.cells.map((cell) => [cell.labels.result, cell.value]),
    );
    expect(values).toEqual({ delivered: 1, rejected: 0, failed: 2, abandoned: 0 });
  });
});

describe("metrics.public", () => {
  it("is false by default, and read from KEYGUARD_METRICS_PUBLIC", () => {
    const secretKey = "metrics-test-secret";
    expect(resolveConfig({ secretKey }, {}).metrics.public).toBe(false);
    expect(resolveConfig({ secretKey }, { KEYGUARD_METRICS_PUBLIC: "true" }).metrics.public).toBe(
      true,
    );
    expect(resolveConfig({ secretKey }, { KEYGUARD_METRICS_PUBLIC: "0" }).metrics.public).toBe(
      false,
    );
    expect(resolveConfig({ secretKey, metrics: { public: true } }, {}).metrics.public).toBe(true);
    expect(() => resolveConfig({ secretKey }, { KEYGUARD_METRICS_PUBLIC: "maybe" })).toThrow(
      "metrics.public must be true or false",
    );
  });
});

describe("OpenTelemetry", () => {
  it("reports the same instruments through a registered meter provider", async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    const kg = await createKeyGuard(
      { secretKey: "metrics-test-secret" },
      { store: new InMemoryStore(), limiter: new InMemoryLimiter(), env: {}, onWarning: () => {} },
    );
    open.push(kg);
    // Already reported by createKeyGuard: asking again reports nothing twice.
    expect(await reportToOpenTelemetry(kg.instruments)).toBe(true);
    const rawKey = await keyIn(kg);
    const guard = kg.guard();
    for (let i = 0; i < 3; i++) expect((await guard.check(requestWith(rawKey))).allowed).toBe(true);
    for (let i = 0; i < 2; i++)
      expect((await guard.check(requestWith(undefined))).allowed).toBe(false);

    await reader.forceFlush();
    const exported = exporter.getMetrics().at(-1);
    const scope = exported?.scopeMetrics.find((s) => s.scope.name === "@keyguard/core");
    expect(scope).toBeDefined();
    const metric = (name: string) => {
      const found = scope?.metrics.find((m) => m.descriptor.name === name);
      if (found === undefined) throw new Error(`${name} was not exported`);
      return found.dataPoints as DataPoint<unknown>[];
    };
    const point = (name: string, attributes: Record<string, string>) =>
      metric(name).find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
        ?.value;
    expect(point("keyguard_decisions", { outcome: "allowed", code: "" })).toBe(3);
    expect(point("keyguard_decisions", { outcome: "refused", code: "missing_api_key" })).toBe(2);
    expect(point("keyguard_verification_cache_lookups", { result: "miss" })).toBe(1);
    expect(point("keyguard_verification_cache_lookups", { result: "hit" })).toBe(2);
    const decide = point("keyguard_limiter_call_duration_seconds", { operation: "decide" }) as
      | Histogram
      | undefined;
    expect(decide?.count).toBe(3);
    // The same numbers Prometheus reads.
    expect(await promValue(kg, "keyguard_decisions_total", '{outcome="allowed",code=""}')).toBe(3);
    await provider.shutdown();
  });

  it("reports nothing without a meter provider, or without the package", async () => {
    const instruments = new KeyGuardInstruments();
    expect(await reportToOpenTelemetry(instruments)).toBe(false);
    const missing = Object.assign(new Error("Cannot find package '@opentelemetry/api'"), {
      code: "ERR_MODULE_NOT_FOUND",
    });
    expect(await reportToOpenTelemetry(instruments, () => Promise.reject(missing))).toBe(false);
  });
});
