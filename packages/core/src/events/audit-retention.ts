import { setImmediate as nextTurn } from "node:timers/promises";
import type { AuditLog } from "../ports/audit-log.js";
import type { Clock } from "../util/clock.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Events deleted per statement: short transactions, no long lock. */
const BATCH = 2_000;

export interface AuditRetentionOptions {
  readonly store: AuditLog;
  readonly clock: Clock;
  readonly retentionDays: number;
  readonly maintenanceIntervalMs: number;
  /** Told about a failed pass (the next interval tries again). */
  readonly onError: (error: unknown) => void;
}

/**
 * Keeps the audit log to `audit.retentionDays`: on an interval (only in servers,
 * `start()`, as usage upkeep), deletes older events in bounded batches with a turn of
 * the event loop between them. The only deletion audit rows ever see; none is updated.
 */
export class AuditRetention {
  readonly #options: AuditRetentionOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;

  constructor(options: AuditRetentionOptions) {
    this.#options = options;
  }

  /** Runs a pass now and then every `maintenanceIntervalMs` (unref'd). Idempotent. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setInterval(() => this.#background(), this.#options.maintenanceIntervalMs);
    this.#timer.unref();
    this.#background();
  }

  /** Stops the interval and waits for a pass under way (it ends after its current batch). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /** Deletes every event older than the retention now; how many. Concurrent calls share a pass. */
  run(): Promise<number> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #background(): void {
    if (this.#running !== undefined) return;
    this.run().catch((error: unknown) => this.#options.onError(error));
  }

  async #pass(): Promise<number> {
    const { store, clock, retentionDays } = this.#options;
    const before = new Date(clock.now() - retentionDays * DAY_MS);
    let total = 0;
    for (;;) {
      const deleted = await store.deleteAuditEventsBefore(before, BATCH);
      total += deleted;
      if (deleted < BATCH || this.#stopped) return total;
      await nextTurn();
    }
  }
}
