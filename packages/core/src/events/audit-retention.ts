import { setImmediate as nextTurn } from "node:timers/promises";
import type { AuditLog } from "../ports/audit-log.js";
import type { Clock } from "../util/clock.js";
import { PeriodicPass } from "../util/periodic-pass.js";

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
  readonly #job: PeriodicPass<number>;

  constructor(options: AuditRetentionOptions) {
    this.#job = new PeriodicPass({
      intervalMs: options.maintenanceIntervalMs,
      onError: options.onError,
      pass: (stopped) => deleteExpiredEvents(options, stopped),
    });
  }

  /** Runs a pass now and then every `maintenanceIntervalMs` (unref'd). Idempotent. */
  start(): void {
    this.#job.start();
  }

  /** Stops the interval and waits for a pass under way (it ends after its current batch). */
  stop(): Promise<void> {
    return this.#job.stop();
  }

  /** Deletes every event older than the retention now; how many. Concurrent calls share a pass. */
  run(): Promise<number> {
    return this.#job.run();
  }
}

async function deleteExpiredEvents(
  { store, clock, retentionDays }: AuditRetentionOptions,
  stopped: () => boolean,
): Promise<number> {
  const before = new Date(clock.now() - retentionDays * DAY_MS);
  let total = 0;
  for (;;) {
    const deleted = await store.deleteAuditEventsBefore(before, BATCH);
    total += deleted;
    if (deleted < BATCH || stopped()) return total;
    await nextTurn();
  }
}
