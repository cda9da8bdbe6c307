/** Label values of one series: fixed when the series is created, never per request. */
export type MetricLabels = Readonly<Record<string, string>>;

/** One series' current value, however it is kept. */
export interface MetricCell {
  readonly labels: MetricLabels;
  readonly value: number;
}

/**
 * One counter series, created once (pre-bound labels) and incremented on the request path:
 * `inc()` adds to a number, so counting allocates nothing and formats nothing. Labels are
 * rendered only when the metrics are read (a scrape, an OpenTelemetry collection).
 */
export class CountCell implements MetricCell {
  value = 0;
  readonly labels: MetricLabels;

  constructor(labels: MetricLabels) {
    this.labels = labels;
  }

  inc(): void {
    this.value++;
  }
}

/** A series whose value is read when the metrics are (a gauge or a total kept elsewhere). */
export class ReadCell implements MetricCell {
  readonly labels: MetricLabels;
  readonly #read: () => number;

  constructor(labels: MetricLabels, read: () => number) {
    this.labels = labels;
    this.#read = read;
  }

  get value(): number {
    return this.#read();
  }
}

/** What a metric is to Prometheus and OpenTelemetry. */
export type MetricKind = "counter" | "gauge";

/**
 * A counter or gauge and its series. Series are added when KeyGuard is built (or when a
 * component first names them, e.g. a store method), never from request data: a label value
 * is always one of a fixed set written in the code, so no key, path or address can become one.
 */
export class MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  readonly #cells: MetricCell[] = [];
  readonly #byKey = new Map<string, MetricCell>();

  constructor(name: string, help: string, kind: MetricKind, labelNames: readonly string[] = []) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
  }

  get cells(): readonly MetricCell[] {
    return this.#cells;
  }

  /** The counter series with these labels (the same one on every call). */
  counter(labels: MetricLabels = {}): CountCell {
    const key = this.#keyOf(labels);
    const existing = this.#byKey.get(key);
    if (existing instanceof CountCell) return existing;
    const cell = new CountCell(Object.freeze({ ...labels }));
    this.#add(key, cell);
    return cell;
  }

  /** A series read from `read` whenever the metrics are read. */
  reading(read: () => number, labels: MetricLabels = {}): void {
    this.#add(this.#keyOf(labels), new ReadCell(Object.freeze({ ...labels }), read));
  }

  /** Sets every counted series back to 0 (prom-client's `resetMetrics`). */
  reset(): void {
    for (const cell of this.#cells) if (cell instanceof CountCell) cell.value = 0;
  }

  #keyOf(labels: MetricLabels): string {
    const names = Object.keys(labels);
    if (
      names.length !== this.labelNames.length ||
      names.some((n) => !this.labelNames.includes(n))
    ) {
      throw new Error(`${this.name} takes the labels ${this.labelNames.join(", ") || "(none)"}`);
    }
    return this.labelNames.map((name) => labels[name]).join("\u0000");
  }

  #add(key: string, cell: MetricCell): void {
    if (this.#byKey.has(key)) throw new Error(`${this.name}: this series exists already`);
    this.#byKey.set(key, cell);
    this.#cells.push(cell);
  }
}
