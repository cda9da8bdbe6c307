import type { ChangeFeed, KeyGuardChange } from "@keyguard/core";
import { CHANGE_LOG_TABLE } from "../migrations/0014-change-notices.js";
import { parseChangeNotice, UnreadableNoticeError } from "./change-notice.js";

export interface SqliteChangeFeedOptions {
  /** Runs a read on the store's connection synchronously; every row. */
  readonly readRowsSync: (sql: string, parameters: readonly unknown[]) => unknown[];
  /** Appends a notice to the change log (for the few no trigger writes). */
  readonly appendSync: (notice: string) => void;
  /** Told about failed polls and unreadable notices (never thrown). */
  readonly onError: (error: unknown) => void;
  /** Between two looks at the file (default 250 ms). */
  readonly pollMs?: number;
}

/**
 * Four looks a second: a change is seen within a second with room to act on it, and a look
 * that finds nothing committed is one `PRAGMA data_version` (no table read).
 */
const POLL_MS = 250;
/**
 * Most notices read per poll (below the log's 1,000 rows); a process further behind drops
 * its caches instead.
 */
const MAX_NOTICES_PER_POLL = 500;

/** Notices the database's triggers write (migration 0014); `publish` adds nothing. */
function loggedByDatabase(change: KeyGuardChange): boolean {
  return (
    change.kind === "api-key" ||
    change.kind === "organization" ||
    change.kind === "ip-rules" || // migration 0016
    (change.kind === "ip-blocks" && change.stored === true)
  );
}

/**
 * KeyGuard's change notices for processes sharing one SQLite file. Triggers (migration
 * 0014) append every change to the `keyguard_changes` log in the changing transaction,
 * whoever made it. Each process looks once per `pollMs` on a timer, never per request:
 * `PRAGMA data_version` (free: no table read) says whether another connection committed
 * anything since the last look, and only then are the new log rows read. Usage writes
 * change `data_version` every second on a busy server but add no row, so they drop
 * nothing from the caches. The log keeps its last 1,000 rows; a process that finds rows
 * missing since its last look (it was stalled) is told to `resync`.
 */
export class SqliteChangeFeed implements ChangeFeed {
  readonly #options: SqliteChangeFeedOptions;
  readonly #listeners = new Set<(change: KeyGuardChange) => void>();
  readonly #timer: NodeJS.Timeout;
  /** The last log row read; undefined until the log exists (a database not yet migrated). */
  #lastSeq: number | undefined;
  #dataVersion: number | undefined;

  constructor(options: SqliteChangeFeedOptions) {
    this.#options = options;
    try {
      this.#lastSeq = this.#newestSeq();
      this.#dataVersion = this.#readDataVersion();
    } catch (error) {
      options.onError(error); // the next poll tries again
    }
    this.#timer = setInterval(() => this.poll(), options.pollMs ?? POLL_MS);
    this.#timer.unref();
  }

  /**
   * Looks for changes now (the timer calls this). Reads nothing unless another connection
   * committed since the last look.
   */
  poll(): void {
    try {
      const version = this.#readDataVersion();
      if (version === this.#dataVersion && this.#lastSeq !== undefined) return;
      this.#dataVersion = version;
      this.#readLog();
    } catch (error) {
      this.#options.onError(error);
    }
  }

  async publish(change: KeyGuardChange): Promise<void> {
    if (loggedByDatabase(change)) return;
    this.#options.appendSync(JSON.stringify(change));
  }

  subscribe(listener: (change: KeyGuardChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  #readLog(): void {
    if (this.#lastSeq === undefined) {
      // The log did not exist at the last look: every row in it now is new.
      if (this.#newestSeq() === undefined) return;
      this.#lastSeq = 0;
    }
    const rows = this.#options.readRowsSync(
      `select seq, notice from ${CHANGE_LOG_TABLE} where seq > ? order by seq limit ?`,
      [this.#lastSeq, MAX_NOTICES_PER_POLL + 1],
    ) as { seq: number; notice: string }[];
    const first = rows[0];
    if (first === undefined) return;
    // Rows are numbered without gaps (one writer at a time; a rolled-back row gives its
    // number back): a gap means rows were pruned before this process read them.
    const missed = this.#lastSeq > 0 && first.seq !== this.#lastSeq + 1;
    if (missed || rows.length > MAX_NOTICES_PER_POLL) {
      this.#lastSeq = this.#newestSeq() ?? this.#lastSeq;
      this.#emit({ kind: "resync" });
      return;
    }
    for (const row of rows) {
      this.#lastSeq = row.seq;
      const change = typeof row.notice === "string" ? parseChangeNotice(row.notice) : undefined;
      if (change === undefined)
        this.#options.onError(new UnreadableNoticeError("SQLite", String(row.notice)));
      else this.#emit(change);
    }
  }

  /** The newest log row's number (0 for an empty log), or undefined without a log. */
  #newestSeq(): number | undefined {
    try {
      const [row] = this.#options.readRowsSync(
        `select coalesce(max(seq), 0) as seq from ${CHANGE_LOG_TABLE}`,
        [],
      ) as { seq: number }[];
      return row?.seq ?? 0;
    } catch (error) {
      if (/no such table/i.test(String((error as Error)?.message))) return undefined;
      throw error;
    }
  }

  #readDataVersion(): number {
    const [row] = this.#options.readRowsSync("pragma data_version", []) as {
      data_version: number;
    }[];
    return row?.data_version ?? 0;
  }

  #emit(change: KeyGuardChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#options.onError(error);
      }
    }
  }
}
