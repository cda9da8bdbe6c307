import { createHash } from "node:crypto";
import { type ChangeFeed, type KeyGuardChange, KeyGuardError } from "@keyguard/core";
import { MAX_NOTICE_BYTES } from "../migrations/0014-change-notices.js";
import { parseChangeNotice, UnreadableNoticeError } from "./change-notice.js";

/** What this feed needs of a `pg.Client` (structural, so `pg`'s types are not imported). */
export interface PgListenClient {
  connect(): Promise<unknown>;
  query(sql: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(
    event: "notification",
    listener: (message: { channel: string; payload?: string }) => void,
  ): unknown;
  /** The server process serving this connection (what `pg_stat_activity.pid` shows). */
  readonly processID?: number | null;
  readonly connection?: { readonly stream?: { destroy(): void } };
}

export interface PostgresChangeFeedOptions {
  /** Opens a new, unconnected client: one per connection attempt, never from the pool. */
  readonly createClient: () => PgListenClient;
  /** Told about lost connections, failed attempts and unreadable notices (never thrown). */
  readonly onError: (error: unknown) => void;
  /** Between health checks of the listening connection (default 10 s). */
  readonly heartbeatMs?: number;
  /** A connection step or health check not answered within this long fails (default 5 s). */
  readonly answerTimeoutMs?: number;
}

/** Waits between attempts after a lost connection: doubling from the first to the last. */
const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 5_000;
const HEARTBEAT_MS = 10_000;
const ANSWER_TIMEOUT_MS = 5_000;
/** How long `close()` lets the connection say goodbye before cutting it. */
const CLOSE_GRACE_MS = 1_000;

/** Notices the database's triggers send at commit (migration 0014); `publish` adds nothing. */
function announcedByDatabase(change: KeyGuardChange): boolean {
  return (
    change.kind === "api-key" ||
    change.kind === "organization" ||
    change.kind === "ip-rules" || // migration 0016
    (change.kind === "ip-blocks" && change.stored === true)
  );
}

/**
 * The channel a schema's triggers notify: `keyguard_<schema>`, or `keyguard_<md5>` for a
 * schema name too long for a channel (63 bytes). The same rule as the migration's.
 */
export function changeChannelOf(schema: string): string {
  return Buffer.byteLength(schema) <= 54
    ? `keyguard_${schema}`
    : `keyguard_${createHash("md5").update(schema).digest("hex")}`;
}

/**
 * KeyGuard's change notices over PostgreSQL LISTEN/NOTIFY, for deployments without Redis.
 * The database announces every change itself: triggers (migration 0014) `NOTIFY` the
 * schema's channel inside the changing transaction, so the notice is delivered at commit,
 * never for a change rolled back, and whoever made the change (this process, the CLI of
 * any version, SQL by hand). `publish` therefore sends only what no trigger covers.
 *
 * One dedicated connection per feed listens (never one of the store's pool: a LISTEN
 * belongs to its session). It is checked every `heartbeatMs`; when it is lost (server
 * restart, network, `pg_terminate_backend`) or stops answering, the feed reconnects with
 * backoff, and after every LISTEN tells its listeners to `resync`, since notices sent
 * meanwhile are gone. Nothing here throws into the process: every failure goes to `onError`.
 */
export class PostgresChangeFeed implements ChangeFeed {
  readonly #options: PostgresChangeFeedOptions;
  readonly #listeners = new Set<(change: KeyGuardChange) => void>();
  readonly #heartbeatMs: number;
  readonly #answerTimeoutMs: number;
  /** The connection being opened or listening; undefined between attempts. */
  #client: PgListenClient | undefined;
  #listening = false;
  #channel: string | undefined;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #firstAttempt: Promise<void>;

  constructor(options: PostgresChangeFeedOptions) {
    this.#options = options;
    this.#heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.#answerTimeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    this.#firstAttempt = this.#connect();
  }

  /** Resolves once the first connection attempt is over (listening, or failed and retrying). */
  get ready(): Promise<void> {
    return this.#firstAttempt;
  }

  /** Whether the feed is listening now. */
  get listening(): boolean {
    return this.#listening;
  }

  /** The server process of the listening connection (`pg_stat_activity.pid`), if listening. */
  get backendPid(): number | undefined {
    return this.#listening ? (this.#client?.processID ?? undefined) : undefined;
  }

  async publish(change: KeyGuardChange): Promise<void> {
    if (announcedByDatabase(change)) return;
    const client = this.#client;
    const channel = this.#channel;
    if (!this.#listening || client === undefined || channel === undefined) {
      throw new KeyGuardError(
        "database_unavailable",
        "The change feed is not connected to PostgreSQL",
      );
    }
    let payload = JSON.stringify(change);
    if (Buffer.byteLength(payload) > MAX_NOTICE_BYTES) payload = JSON.stringify({ kind: "resync" });
    await this.#answered(client, client.query("select pg_notify($1, $2)", [channel, payload]));
  }

  subscribe(listener: (change: KeyGuardChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    if (client === undefined) return;
    let cut: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => {}),
      new Promise<void>((resolve) => {
        cut = setTimeout(resolve, CLOSE_GRACE_MS);
      }),
    ]);
    clearTimeout(cut);
    destroy(client);
  }

  /** One connection attempt: connect, find the schema's channel, LISTEN, then `resync`. */
  async #connect(): Promise<void> {
    if (this.#closed) return;
    let client: PgListenClient;
    try {
      client = this.#options.createClient();
    } catch (error) {
      this.#options.onError(error);
      return;
    }
    this.#client = client;
    // Listeners for the connection's whole life: an unhandled `error` event would crash the
    // process, and a connection closed by the server ends without one.
    client.on("error", (error) => this.#lost(client, error));
    client.on("end", () => this.#lost(client, undefined));
    client.on("notification", (message) => this.#heard(message));
    try {
      await this.#answered(client, client.connect());
      const { rows } = await this.#answered(
        client,
        client.query("select current_schema() as schema"),
      );
      const schema = (rows[0] as { schema?: unknown } | undefined)?.schema;
      if (typeof schema !== "string") {
        throw new KeyGuardError("database_unavailable", "PostgreSQL reported no current schema");
      }
      this.#channel = changeChannelOf(schema);
      await this.#answered(client, client.query(`listen ${quoteIdentifier(this.#channel)}`));
    } catch (error) {
      this.#lost(client, error);
      return;
    }
    if (this.#client !== client) return; // lost (or closed) meanwhile
    this.#listening = true;
    this.#failures = 0;
    this.#heartbeat = setInterval(() => this.#check(client), this.#heartbeatMs);
    this.#heartbeat.unref();
    // Notices sent while nobody listened are lost: whatever was cached may be stale.
    this.#emit({ kind: "resync" });
  }

  /** A health check: a half-open connection never errors, it just stops answering. */
  #check(client: PgListenClient): void {
    this.#answered(client, client.query("select 1")).catch((error: unknown) =>
      this.#lost(client, error),
    );
  }

  /** The connection is gone (or unusable): report it once and try again after a while. */
  #lost(client: PgListenClient, error: unknown): void {
    if (this.#client !== client) return; // an earlier connection, already replaced
    this.#client = undefined;
    this.#listening = false;
    clearInterval(this.#heartbeat);
    destroy(client);
    if (this.#closed) return;
    this.#options.onError(
      new KeyGuardError(
        "database_unavailable",
        "The PostgreSQL change feed lost its connection; reconnecting (caches are dropped once it is back)",
        { cause: error },
      ),
    );
    const delay = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#failures);
    this.#failures++;
    // Jitter, so the processes of a deployment do not all reconnect in the same instant.
    this.#retry = setTimeout(() => void this.#connect(), delay * (0.8 + Math.random() * 0.4));
    this.#retry.unref();
  }

  #heard(message: { channel: string; payload?: string }): void {
    if (message.channel !== this.#channel) return;
    const text = message.payload ?? "";
    const change = parseChangeNotice(text);
    if (change === undefined) {
      this.#options.onError(new UnreadableNoticeError("PostgreSQL", text));
      return;
    }
    this.#emit(change);
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

  /**
   * `step`, failing after `answerTimeoutMs` without an answer; the connection is then
   * destroyed, since a reply may still be owed on it.
   */
  #answered<T>(client: PgListenClient, step: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        destroy(client);
        reject(
          Object.assign(new Error(`PostgreSQL did not answer within ${this.#answerTimeoutMs} ms`), {
            code: "ETIMEDOUT",
          }),
        );
      }, this.#answerTimeoutMs);
    });
    return Promise.race([step, timeout]).finally(() => clearTimeout(timer));
  }
}

function destroy(client: PgListenClient): void {
  client.connection?.stream?.destroy();
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
