import type { MetricLabels } from "./counter-family.js";

/**
 * Bucket bounds (seconds) for store and limiter calls: from 0.1 ms (a memory limiter, a
 * cached SQLite statement) to 10 s (a PostgreSQL statement near its timeout).
 */
export const CALL_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Where one observation also goes (an OpenTelemetry histogram), if anywhere. */
export type ObservationSink = (seconds: number, labels: MetricLabels) => void;

/**
 * One histogram series, pre-bound: `observe` adds to preallocated bucket counts (no
 * allocation). Counts are kept per bucket and made cumulative only when read.
 */
export class TimingCell {
  readonly labels: MetricLabels;
  readonly bounds: readonly number[];
  /** Observations per bucket; the last slot is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  sink: ObservationSink | undefined;

  constructor(labels: MetricLabels, bounds: readonly number[], sink: ObservationSink | undefined) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
    this.sink = sink;
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += seconds;
    this.count++;
    if (this.sink !== undefined) this.sink(seconds, this.labels);
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** A histogram and its series (same rules for labels as `MetricFamily`). */
export class HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly bounds: readonly number[];
  readonly #cells = new Map<string, TimingCell>();
  #sink: ObservationSink | undefined;

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[] = CALL_DURATION_BUCKETS,
  ) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.bounds = bounds;
  }

  get cells(): Iterable<TimingCell> {
    return this.#cells.values();
  }

  /** The series with these labels (the same one on every call). */
  timing(labels: MetricLabels): TimingCell {
    const key = this.labelNames.map((name) => labels[name] ?? "").join("\u0000");
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      const bound: Record<string, string> = {};
      for (const name of this.labelNames) bound[name] = labels[name] ?? "";
      cell = new TimingCell(Object.freeze(bound), this.bounds, this.#sink);
      this.#cells.set(key, cell);
    }
    return cell;
  }

  /** Sends every later observation of every series to `sink` too. */
  forwardTo(sink: ObservationSink): void {
    this.#sink = sink;
    for (const cell of this.#cells.values()) cell.sink = sink;
  }

  reset(): void {
    for (const cell of this.#cells.values()) cell.reset();
  }
}
