import { setImmediate as nextTurn } from "node:timers/promises";
import type { Store, UsageMaintenanceResult } from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import { PeriodicPass } from "../util/periodic-pass.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface UsageMaintenanceOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly rollupAfterHours: number;
  readonly retentionDays: number;
  readonly rollupRetentionDays: number;
  readonly maintenanceIntervalMs: number;
  readonly maintenanceBatchSize: number;
  /** Told about a failed pass (the next interval tries again). */
  readonly onError: (error: unknown) => void;
}

/** Rows a maintenance pass handled, over all its steps. */
export interface UsageMaintenanceTotals {
  readonly rolledUp: number;
  readonly deletedRows: number;
  readonly deletedRollups: number;
}

/**
 * Keeps the usage tables bounded: on an interval (only in servers, `start()`), rolls usage
 * rows older than `rollupAfterHours` into per-hour rollups and deletes rows older than
 * `retentionDays` and rollups older than `rollupRetentionDays`. A pass is a series of
 * bounded steps, each a few short transactions (`Store.maintainUsage`), with a turn of the
 * event loop between them, so neither requests nor the usage writer wait long for it.
 */
export class UsageMaintenance {
  readonly #options: UsageMaintenanceOptions;
  readonly #job: PeriodicPass<UsageMaintenanceTotals>;

  constructor(options: UsageMaintenanceOptions) {
    this.#options = options;
    this.#job = new PeriodicPass({
      intervalMs: options.maintenanceIntervalMs,
      onError: options.onError,
      pass: (stopped) => this.#pass(stopped),
    });
  }

  /** Runs a pass now and then every `maintenanceIntervalMs` (unref'd). Idempotent. */
  start(): void {
    if (this.#options.store.maintainUsage === undefined) return;
    this.#job.start();
  }

  /** Stops the interval and waits for a pass under way (it ends after its current step). */
  stop(): Promise<void> {
    return this.#job.stop();
  }

  /**
   * One full pass, until nothing is left to roll up or delete; concurrent calls share it.
   * Rejects with the store's error.
   */
  run(): Promise<UsageMaintenanceTotals> {
    return this.#job.run();
  }

  async #pass(stopped: () => boolean): Promise<UsageMaintenanceTotals> {
    const { store, clock } = this.#options;
    const totals = { rolledUp: 0, deletedRows: 0, deletedRollups: 0 };
    if (store.maintainUsage === undefined) return totals;
    const now = clock.now();
    // Whole hours only: a rollup never holds part of an hour whose other part is still raw.
    const rollUpBefore =
      Math.floor((now - this.#options.rollupAfterHours * HOUR_MS) / HOUR_MS) * HOUR_MS;
    const step = {
      rollUpBefore: new Date(rollUpBefore),
      deleteRowsBefore: new Date(now - this.#options.retentionDays * DAY_MS),
      deleteRollupsBefore: new Date(now - this.#options.rollupRetentionDays * DAY_MS),
      limit: this.#options.maintenanceBatchSize,
    };
    for (;;) {
      const done: UsageMaintenanceResult = await store.maintainUsage(step);
      totals.rolledUp += done.rolledUp;
      totals.deletedRows += done.deletedRows;
      totals.deletedRollups += done.deletedRollups;
      if (done.rolledUp + done.deletedRows + done.deletedRollups === 0 || stopped()) {
        return totals;
      }
      await nextTurn();
    }
  }
}
