import type { MetricFamily, MetricLabels } from "./counter-family.js";
import type { HistogramFamily } from "./histogram-family.js";
import type { KeyGuardInstruments } from "./keyguard-instruments.js";

/** The part of `@opentelemetry/api` used here (structural: core has no dependency on it). */
interface OpenTelemetryApi {
  metrics: { getMeter(name: string, version?: string): Meter };
  createNoopMeter(): Meter;
}

interface ObservableResult {
  observe(value: number, attributes?: MetricLabels): void;
}

interface Observable {
  addCallback(callback: (result: ObservableResult) => void): void;
}

interface Meter {
  createObservableCounter(name: string, options?: { description?: string }): Observable;
  createObservableGauge(name: string, options?: { description?: string }): Observable;
  createHistogram(
    name: string,
    options?: {
      description?: string;
      unit?: string;
      advice?: { explicitBucketBoundaries?: number[] };
    },
  ): { record(value: number, attributes?: MetricLabels): void };
}

// A variable, so bundlers and TypeScript leave the optional package unresolved.
const OPEN_TELEMETRY_API = "@opentelemetry/api";

/** Instruments already reported (`createKeyGuard` does it; an application may call it again). */
const reported = new WeakSet<KeyGuardInstruments>();

/** The meter's name: what an OpenTelemetry view or exporter sees as the instrumentation scope. */
export const METER_NAME = "@keyguard/core";

/**
 * Reports KeyGuard's instruments through OpenTelemetry when `@opentelemetry/api` is
 * installed and a meter provider is registered (call this after the SDK has started:
 * a meter taken before any provider is registered stays a no-op). Counters and gauges
 * become observable instruments, read at each collection from the same cells Prometheus
 * reads (nothing on the request path); histograms are recorded as they are observed.
 * Names are the Prometheus ones without `_total` (OpenTelemetry's Prometheus exporter
 * adds it back); durations keep `_seconds` with unit `s`. Resolves `false`, loading
 * nothing else, when the package is absent or no provider is registered. Idempotent.
 */
export async function reportToOpenTelemetry(
  instruments: KeyGuardInstruments,
  load: () => Promise<unknown> = () => import(OPEN_TELEMETRY_API),
): Promise<boolean> {
  let api: OpenTelemetryApi;
  try {
    const loaded = (await load()) as OpenTelemetryApi & { default?: OpenTelemetryApi };
    api = typeof loaded.metrics === "object" ? loaded : (loaded.default as OpenTelemetryApi);
  } catch {
    return false; // not installed: OpenTelemetry is optional
  }
  if (reported.has(instruments)) return true; // once: twice would report everything twice
  const meter = api.metrics.getMeter(METER_NAME);
  if (meter === api.createNoopMeter()) return false; // no meter provider registered
  reported.add(instruments);
  for (const family of instruments.families) {
    if ("bounds" in family) forwardHistogram(meter, family);
    else observeFamily(meter, family);
  }
  return true;
}

function observeFamily(meter: Meter, family: MetricFamily): void {
  const name = family.name.replace(/_total$/, "");
  const options = { description: family.help };
  const observable =
    family.kind === "counter"
      ? meter.createObservableCounter(name, options)
      : meter.createObservableGauge(name, options);
  observable.addCallback((result) => {
    for (const cell of family.cells) result.observe(cell.value, cell.labels);
  });
}

function forwardHistogram(meter: Meter, family: HistogramFamily): void {
  const histogram = meter.createHistogram(family.name, {
    description: family.help,
    unit: "s",
    advice: { explicitBucketBoundaries: [...family.bounds] },
  });
  family.forwardTo((seconds, labels) => histogram.record(seconds, labels));
}
