export interface PeriodicPassOptions<T> {
  readonly intervalMs: number;
  /** One pass; `stopped()` turns true when `stop()` is called, so a long pass ends early. */
  readonly pass: (stopped: () => boolean) => Promise<T>;
  /** Told about a failed background pass (the next interval tries again). */
  readonly onError: (error: unknown) => void;
}

/**
 * A background job run in passes: one at `start()` and then every `intervalMs` (unref'd, so
 * it never keeps a process alive), never two at once (a call during a pass shares it), and
 * a pass under way is awaited by `stop()`. The upkeep jobs (usage rollups and retention,
 * audit retention) are each a pass function over this.
 */
export class PeriodicPass<T> {
  readonly #options: PeriodicPassOptions<T>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<T> | undefined;
  #stopped = false;

  constructor(options: PeriodicPassOptions<T>) {
    this.#options = options;
  }

  /** Runs a pass now and then every `intervalMs`. Idempotent; nothing after `stop()`. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setInterval(() => this.#background(), this.#options.intervalMs);
    this.#timer.unref();
    this.#background();
  }

  /** Stops the interval and waits for a pass under way (it ends after its current step). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /** A pass now, or the one under way; rejects with the pass's error. */
  run(): Promise<T> {
    this.#running ??= this.#options
      .pass(() => this.#stopped)
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  #background(): void {
    if (this.#running !== undefined) return;
    this.run().catch((error: unknown) => this.#options.onError(error));
  }
}
