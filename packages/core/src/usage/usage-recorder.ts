import { isCharged, type UsageEvent } from "../domain/usage-event.js";
import { isKeyGuardError } from "../errors/keyguard-error.js";
import { detachString } from "../util/detach-string.js";
import { timeOrderedId } from "../util/time-ordered-id.js";

/** The store could not be reached: `unwritten` are the rows of the batch it did not take. */
class StoreUnavailable {
  constructor(
    readonly error: unknown,
    readonly unwritten: UsageEvent[],
  ) {}
}

export interface UsageRecorderOptions {
  /** Writes one batch; must write all of it or none of it. */
  readonly write: (events: readonly UsageEvent[]) => Promise<void>;
  /** A batch is written as soon as this many rows wait. */
  readonly batchSize: number;
  /** Waiting rows are written at least this often. */
  readonly flushIntervalMs: number;
  /** Rows kept while the store is failing or slow; beyond this new requests are dropped and counted. */
  readonly maxBuffered: number;
  /**
   * Told about every failed write (the rows are kept and retried), and once each time the
   * buffer fills and requests start being dropped.
   */
  readonly onError?: (error: unknown) => void;
}

/** Counters that let an operator see the recorder is keeping up (all in requests). */
export interface UsageRecorderStats {
  readonly buffered: number;
  readonly written: number;
  readonly dropped: number;
  readonly failedWrites: number;
}

/** An aggregated row being filled. */
interface PendingRow {
  readonly keyId: string;
  readonly path: string;
  readonly method: string;
  readonly statusCode: number;
  readonly ipAddress: string | null;
  readonly charged: boolean;
  /** The second (epoch s) this row aggregates. */
  readonly second: number;
  timestamp: Date;
  requestCount: number;
  latencyTotal: number;
  /** The balance period credits were spent in (absent: none spent). */
  readonly creditsPeriodStart: number | undefined;
  credits: number;
}

const countOf = (event: UsageEvent) => event.requestCount ?? 1;

/**
 * Takes usage off the request path. `record()` folds each request into an in-memory row
 * per key, method, path, status, client and second (a map lookup: writing one row per
 * request costs more than serving a request), and rows reach the store in batches (one
 * transaction each) when `batchSize` rows wait, on a timer, and on `close()`. One write runs
 * at a time. When the store fails, rows stay queued (up to `maxBuffered`) and are retried;
 * past that, new requests are dropped and counted, never silently.
 */
export class UsageRecorder {
  readonly #options: UsageRecorderOptions;
  #pending = new Map<string, PendingRow>();
  /**
   * Each key's most recent row: consecutive requests of one key usually share method, path,
   * status, client and second, and comparing those fields is much cheaper than building and
   * hashing the composite id (the aggregation was a measurable part of a request's cost).
   */
  #latestByKey = new Map<string, PendingRow>();
  #queue: UsageEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #failedWrites = 0;
  /** Whether the current overflow was reported (reset once a write succeeds). */
  #overflowReported = false;

  constructor(options: UsageRecorderOptions) {
    this.#options = options;
  }

  /** Counts one request (or an already aggregated event). Never throws, never waits. */
  record(event: UsageEvent): void {
    const requests = countOf(event);
    if (this.#closed) {
      this.#dropped += requests;
      return;
    }
    const second = Math.floor(event.timestamp.getTime() / 1000);
    const charged = isCharged(event);
    const latest = this.#latestByKey.get(event.keyId);
    if (
      latest !== undefined &&
      latest.second === second &&
      latest.statusCode === event.statusCode &&
      latest.path === event.path &&
      latest.method === event.method &&
      latest.ipAddress === event.ipAddress &&
      latest.charged === charged &&
      latest.creditsPeriodStart === event.creditsPeriodStart
    ) {
      this.#add(latest, event, requests);
      return;
    }
    const id = `${event.keyId}\u0000${second}\u0000${event.statusCode}\u0000${charged ? 1 : 0}\u0000${event.creditsPeriodStart ?? ""}\u0000${event.method}\u0000${event.ipAddress ?? ""}\u0000${event.path}`;
    const row = this.#pending.get(id);
    if (row !== undefined) {
      this.#add(row, event, requests);
      this.#latestByKey.set(event.keyId, row);
      return;
    }
    if (this.#pending.size + this.#queue.length >= this.#options.maxBuffered) {
      // Full (the store is down or slower than the traffic): drop, counted. O(1), so an
      // overloaded server is not slowed further.
      this.#drop(requests);
      return;
    }
    const created: PendingRow = {
      keyId: event.keyId,
      // Kept until written, maybe long (the store down): never a view into a request target.
      path: detachString(event.path),
      method: event.method,
      statusCode: event.statusCode,
      ipAddress: event.ipAddress,
      charged,
      second,
      timestamp: event.timestamp,
      requestCount: requests,
      latencyTotal: event.latencyMs * requests,
      creditsPeriodStart: event.creditsPeriodStart,
      credits: event.credits ?? 0,
    };
    this.#pending.set(id, created);
    this.#latestByKey.set(event.keyId, created);
    if (this.#pending.size >= this.#options.batchSize) {
      void this.#drain();
    } else {
      this.#startTimer();
    }
  }

  /**
   * Writes everything recorded so far. Resolves when it is written; rejects with the
   * store's error if a write fails (the rows stay queued for the next attempt).
   */
  async flush(): Promise<void> {
    this.#takePending();
    // A write already under way (from the timer) is waited for, not duplicated; if it
    // failed, its rows are back in the queue and this loop's own attempt reports it.
    while (this.#writing !== undefined || this.#queue.length > 0) {
      if (this.#writing !== undefined) await this.#writing;
      else await this.#writeNextBatch();
    }
  }

  /** Flushes and stops the timer. Requests recorded after this are counted as dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    await this.flush();
  }

  get stats(): UsageRecorderStats {
    let buffered = 0;
    for (const row of this.#pending.values()) buffered += row.requestCount;
    for (const event of this.#queue) buffered += countOf(event);
    return {
      buffered,
      written: this.#written,
      dropped: this.#dropped,
      failedWrites: this.#failedWrites,
    };
  }

  #add(row: PendingRow, event: UsageEvent, requests: number): void {
    row.requestCount += requests;
    row.latencyTotal += event.latencyMs * requests;
    row.credits += event.credits ?? 0;
    if (event.timestamp > row.timestamp) row.timestamp = event.timestamp;
  }

  /**
   * After `close()` failed (the store unreachable): every row not written, each with the id
   * it was (or would have been) written under, handed over to be kept elsewhere (the
   * spool). The recorder holds nothing afterwards.
   */
  takeUnwritten(): UsageEvent[] {
    this.#takePending();
    const rows = this.#queue;
    this.#queue = [];
    return rows;
  }

  /**
   * Moves the rows being filled into the write queue, each given its id now, before any
   * attempt to write it: a retry (after a failure, or a lost reply to a COMMIT that did
   * happen) writes the same ids, which the store writes at most once.
   */
  #takePending(): void {
    if (this.#pending.size === 0) return;
    for (const row of this.#pending.values()) {
      this.#queue.push({
        id: timeOrderedId(row.timestamp.getTime()),
        keyId: row.keyId,
        path: row.path,
        method: row.method,
        statusCode: row.statusCode,
        ipAddress: row.ipAddress,
        timestamp: row.timestamp,
        requestCount: row.requestCount,
        latencyMs: row.latencyTotal / row.requestCount,
        charged: row.charged,
        ...(row.creditsPeriodStart === undefined || row.credits === 0
          ? {}
          : { credits: row.credits, creditsPeriodStart: row.creditsPeriodStart }),
      });
    }
    this.#pending = new Map();
    this.#latestByKey = new Map();
  }

  async #drain(): Promise<void> {
    if (this.#writing !== undefined) return;
    try {
      // Rows that filled up while a batch was being written go out next, without waiting
      // for the timer: under load, batches grow to whatever accumulated during the last write.
      for (this.#takePending(); this.#queue.length > 0; this.#takePending()) {
        if (this.#writing !== undefined) return;
        await this.#writeNextBatch();
      }
    } catch {
      // Already reported through onError; the rows stay queued for the next tick.
    }
    if (this.#queue.length === 0 && this.#pending.size === 0) this.#stopTimer();
  }

  async #writeNextBatch(): Promise<void> {
    const batch = this.#queue.splice(0, this.#options.batchSize);
    const write = this.#writeDroppingRefusedRows(batch);
    // Others wait on this marker; it settles when the write does and never rejects.
    this.#writing = write.then(
      () => {},
      () => {},
    );
    try {
      await write;
      this.#overflowReported = false;
    } catch (failure) {
      const { error, unwritten } =
        failure instanceof StoreUnavailable ? failure : { error: failure, unwritten: batch };
      this.#failedWrites++;
      // Put the rows back in front, keeping the newest rows if that overflows.
      this.#queue = unwritten.concat(this.#queue);
      const overflow = this.#queue.length - this.#options.maxBuffered;
      if (overflow > 0) {
        for (const event of this.#queue.splice(0, overflow)) this.#drop(countOf(event));
      }
      if (!this.#closed) this.#startTimer();
      this.#options.onError?.(error);
      throw error;
    } finally {
      this.#writing = undefined;
    }
  }

  /**
   * Writes `rows`. A store that refuses them for what they hold (not for being unavailable)
   * would refuse them on every retry and hold back every row queued behind them, so the
   * batch is halved until the refused rows are alone, and those are dropped (counted and
   * reported). An unavailable store's error comes back with the rows not yet written.
   */
  async #writeDroppingRefusedRows(rows: UsageEvent[]): Promise<void> {
    try {
      await this.#options.write(rows);
      for (const event of rows) this.#written += countOf(event);
      return;
    } catch (error) {
      if (isKeyGuardError(error, "database_unavailable")) throw new StoreUnavailable(error, rows);
      if (rows.length === 1) {
        this.#dropped += countOf(rows[0] as UsageEvent);
        this.#options.onError?.(
          new Error("The store refused a usage row; it was dropped.", { cause: error }),
        );
        return;
      }
    }
    const half = Math.ceil(rows.length / 2);
    try {
      await this.#writeDroppingRefusedRows(rows.slice(0, half));
    } catch (failure) {
      if (!(failure instanceof StoreUnavailable)) throw failure;
      throw new StoreUnavailable(failure.error, failure.unwritten.concat(rows.slice(half)));
    }
    await this.#writeDroppingRefusedRows(rows.slice(half));
  }

  #drop(requests: number): void {
    this.#dropped += requests;
    if (this.#overflowReported) return;
    this.#overflowReported = true;
    this.#options.onError?.(
      new Error(
        `Usage buffer full (${this.#options.maxBuffered} rows waiting for the store): usage of further requests is dropped until the store catches up. See usageStats.dropped (${this.#dropped} so far).`,
      ),
    );
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    // Started lazily so short-lived users (the CLI) never hold a timer.
    this.#timer = setInterval(() => void this.#drain(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
