import type { UsageEvent } from "../domain/usage-event.js";

export interface UsageRecorderOptions {
  /** Writes one batch; must write all of it or none of it. */
  readonly write: (events: readonly UsageEvent[]) => Promise<void>;
  /** A batch is written as soon as this many events wait. */
  readonly batchSize: number;
  /** Waiting events are written at least this often. */
  readonly flushIntervalMs: number;
  /** Events kept while the store is failing or slow; beyond this new ones are dropped and counted. */
  readonly maxBuffered: number;
  /** Told about every failed write (the events are kept and retried). */
  readonly onError?: (error: unknown) => void;
}

/** Counters that let an operator see the recorder is keeping up. */
export interface UsageRecorderStats {
  readonly buffered: number;
  readonly written: number;
  readonly dropped: number;
  readonly failedWrites: number;
}

/**
 * Takes usage events off the request path. `record()` only appends to an array; events
 * reach the store in batches (one transaction each) when `batchSize` are waiting, on a
 * timer, and on `close()`. One write runs at a time. When the store fails, events stay
 * buffered (up to `maxBuffered`) and are retried on the next flush; past that, new events
 * are dropped and counted, never silently.
 */
export class UsageRecorder {
  readonly #options: UsageRecorderOptions;
  #buffer: UsageEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #failedWrites = 0;

  constructor(options: UsageRecorderOptions) {
    this.#options = options;
  }

  /** Queues one event. Never throws, never waits. */
  record(event: UsageEvent): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    if (this.#buffer.length >= this.#options.maxBuffered) {
      // Full (the store is down or slower than the traffic): drop this event, counted.
      // Dropping the newest keeps this O(1); shifting the oldest out of a 100,000-entry
      // array on every request would make an overloaded server slower still.
      this.#dropped++;
      return;
    }
    this.#buffer.push(event);
    if (this.#buffer.length >= this.#options.batchSize) {
      void this.#drain();
    } else {
      this.#startTimer();
    }
  }

  /**
   * Writes everything queued so far. Resolves when it is written; rejects with the store's
   * error if a write fails (the events stay queued for the next attempt).
   */
  async flush(): Promise<void> {
    // A write already under way (from the timer) is waited for, not duplicated; if it
    // failed, its events are back in the buffer and this loop's own attempt reports it.
    while (this.#writing !== undefined || this.#buffer.length > 0) {
      if (this.#writing !== undefined) await this.#writing;
      else await this.#writeNextBatch();
    }
  }

  /** Flushes and stops the timer. Events recorded after this are counted as dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    await this.flush();
  }

  get stats(): UsageRecorderStats {
    return {
      buffered: this.#buffer.length,
      written: this.#written,
      dropped: this.#dropped,
      failedWrites: this.#failedWrites,
    };
  }

  async #drain(): Promise<void> {
    if (this.#writing !== undefined) return;
    try {
      while (this.#buffer.length > 0 && this.#writing === undefined) {
        await this.#writeNextBatch();
      }
    } catch {
      // Already reported through onError; the events stay queued for the next tick.
    }
    if (this.#buffer.length === 0) this.#stopTimer();
  }

  async #writeNextBatch(): Promise<void> {
    const batch = this.#buffer.splice(0, this.#options.batchSize);
    const write = this.#options.write(batch);
    // Others wait on this marker; it settles when the write does and never rejects.
    this.#writing = write.then(
      () => {},
      () => {},
    );
    try {
      await write;
      this.#written += batch.length;
    } catch (error) {
      this.#failedWrites++;
      // Put the batch back in front, keeping the newest events if that overflows.
      this.#buffer = batch.concat(this.#buffer);
      const overflow = this.#buffer.length - this.#options.maxBuffered;
      if (overflow > 0) {
        this.#buffer.splice(0, overflow);
        this.#dropped += overflow;
      }
      if (!this.#closed) this.#startTimer();
      this.#options.onError?.(error);
      throw error;
    } finally {
      this.#writing = undefined;
    }
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
