import { type Metric, Registry } from "prom-client";
import type { MetricFamily } from "./counter-family.js";
import type { HistogramFamily } from "./histogram-family.js";
import type { KeyGuardInstruments } from "./keyguard-instruments.js";

interface ExposedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A prom-client metric that reads one family when the registry is read. prom-client's own
 * `Counter.inc` hashes its labels into a string and returns a fresh object on every call,
 * which is why KeyGuard counts in pre-bound cells of its own and hands prom-client only
 * what a scrape renders. The shape is the one prom-client's registry reads from its own
 * metrics (`get()`), so `Registry.merge` and `getMetricsAsJSON` work as for any metric.
 */
class FamilyMetric {
  name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly aggregator = "sum" as const;
  readonly #family: MetricFamily;

  constructor(family: MetricFamily) {
    this.#family = family;
    this.name = family.name;
    this.help = family.help;
    this.type = family.kind;
  }

  async get() {
    const values: ExposedValue[] = this.#family.cells.map((cell) => ({
      value: cell.value,
      labels: { ...cell.labels },
    }));
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    this.#family.reset();
  }
}

/** A histogram family as prom-client's registry renders histograms (`_bucket`, `_sum`, `_count`). */
class HistogramMetric {
  name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly #family: HistogramFamily;

  constructor(family: HistogramFamily) {
    this.#family = family;
    this.name = family.name;
    this.help = family.help;
  }

  async get() {
    const values: ExposedValue[] = [];
    for (const cell of this.#family.cells) {
      let cumulative = 0;
      cell.bounds.forEach((bound, i) => {
        cumulative += cell.counts[i] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...cell.labels, le: bound },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { ...cell.labels, le: "+Inf" },
        value: cell.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels: { ...cell.labels }, value: cell.sum });
      values.push({
        metricName: `${this.name}_count`,
        labels: { ...cell.labels },
        value: cell.count,
      });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    this.#family.reset();
  }
}

/**
 * A prom-client `Registry` of KeyGuard's instruments alone (not prom-client's global
 * `register`): serve it as it is (`keyguardMetrics(kg)` in each adapter), or merge it
 * with the application's (`Registry.merge([register, kg.metrics])`).
 */
export function createPrometheusRegistry(instruments: KeyGuardInstruments): Registry {
  const registry = new Registry();
  for (const family of instruments.families) {
    const metric = "bounds" in family ? new HistogramMetric(family) : new FamilyMetric(family);
    registry.registerMetric(metric as unknown as Metric);
  }
  return registry;
}
