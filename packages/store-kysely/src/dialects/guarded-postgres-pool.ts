import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";

/** What this module needs of a `pg.Pool` (structural, so `pg`'s types are not imported). */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
  on(event: "connect" | "error" | "remove", listener: (...args: never[]) => void): unknown;
}

/** What this module needs of a checked-out `pg` client. */
export interface PgClientLike {
  query(sql: string, parameters: unknown[]): Promise<PostgresQueryResult<unknown>>;
  release(destroy?: boolean | Error): void;
  on(event: "error", listener: (error: Error) => void): unknown;
  /** pg's wire connection: its socket is destroyed when a query outlives its timeout. */
  readonly connection?: { readonly stream?: { destroy(): void } };
}

/** How long an operation waits for a probe under way before failing fast instead. */
const PROBE_WAIT_MS = 250;

export interface GuardedPoolOptions {
  /** A query whose reply has not arrived after this long fails and its connection is dropped. */
  readonly queryTimeoutMs: number;
  /** How long `end()` lets connections close politely before cutting them. */
  readonly closeGraceMs: number;
  /**
   * After a connection could not be opened or a query got no reply in time, how long new
   * operations fail at once instead of waiting for the same timeout (then one goes through
   * to find out whether the database is back).
   */
  readonly failFastMs: number;
  /** Told when an idle pooled connection fails (the database restarted or went away). */
  readonly onIdleError: (error: Error) => void;
}

/**
 * Kysely's `PostgresPool` over a `pg.Pool`, made safe for a database that fails:
 *
 * - Every client has an `error` listener for its whole life. pg-pool listens only while a
 *   client is idle; a connection dropping while Kysely holds the client (mid-transaction,
 *   or just after a COMMIT was sent) would otherwise be an unhandled `error` event, which
 *   crashes the process. The query in flight fails anyway and reports the outage.
 * - Every query is bounded by `queryTimeoutMs` on the client side. A half-open connection
 *   (a stalled server, a partition that drops packets) never answers and never errors, so
 *   without this a request waits as long as the operating system keeps the socket. On
 *   expiry the socket is destroyed, so the connection cannot be reused with an unknown
 *   reply still owed on it, and the pool opens a fresh one next time.
 * - Once the database is known to be out (a connection could not be opened, a query got no
 *   reply in time), operations fail at once for `failFastMs` instead of each waiting out
 *   the same timeout, then one operation at a time probes until one succeeds: a sustained
 *   outage costs callers milliseconds, not a timeout each (a circuit breaker). A
 *   connection merely reset, or a statement the server cancelled, does not count: the
 *   next connection may well work.
 * - `end()` is bounded: connections that do not close within `closeGraceMs` (the server
 *   never acknowledges, because it is stalled) are destroyed, so shutdown finishes.
 */
export function guardPostgresPool(pool: PgPoolLike, options: GuardedPoolOptions): PostgresPool {
  const clients = new Set<PgClientLike>();
  const ignore = () => {};
  pool.on("connect", ((client: PgClientLike) => {
    clients.add(client);
    client.on("error", ignore);
  }) as (...args: never[]) => void);
  pool.on("remove", ((client: PgClientLike) => {
    clients.delete(client);
  }) as (...args: never[]) => void);
  pool.on("error", ((error: Error) => options.onIdleError(error)) as (...args: never[]) => void);

  /** Until when operations fail fast; 0 while the database is believed up. */
  let failingUntil = 0;
  /** The one operation let through after `failingUntil` to see whether the database is back. */
  let probe: Probe | undefined;
  const settleProbe = (up: boolean) => {
    probe?.settle(up);
    probe = undefined;
  };
  const markDown = () => {
    failingUntil = Date.now() + options.failFastMs;
    settleProbe(false);
  };
  const markUp = () => {
    failingUntil = 0;
    settleProbe(true);
  };
  /**
   * Lets an operation through (returning the probe it is, if it is one), or throws at once
   * while the database is known to be out; waits briefly on a probe under way.
   */
  const admit = async (): Promise<Probe | undefined> => {
    if (failingUntil === 0) return undefined;
    if (Date.now() < failingUntil) throw databaseDown(options.failFastMs);
    if (probe === undefined) {
      let settle: (up: boolean) => void = () => {};
      const outcome = new Promise<boolean>((resolve) => {
        settle = resolve;
      });
      probe = { outcome, settle };
      return probe;
    }
    // A recovered database answers the probe in milliseconds: those arriving meanwhile go
    // ahead with it; a still-stalled one does not, and they fail without waiting it out.
    let timer: NodeJS.Timeout | undefined;
    const up = await Promise.race([
      probe.outcome,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), PROBE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!up) throw databaseDown(options.failFastMs);
    return undefined;
  };

  return {
    async connect(): Promise<PostgresPoolClient> {
      const asProbe = await admit();
      let client: PgClientLike;
      try {
        client = await pool.connect();
      } catch (error) {
        markDown();
        throw error;
      }
      let broken = false;
      let answered = false;
      const query = (sql: string, parameters: readonly unknown[]) =>
        new Promise<PostgresQueryResult<unknown>>((resolve, reject) => {
          const timer = setTimeout(() => {
            broken = true;
            markDown();
            destroyConnection(client);
            reject(queryTimeout(options.queryTimeoutMs));
          }, options.queryTimeoutMs);
          client.query(sql, [...parameters]).then(
            (result) => {
              clearTimeout(timer);
              if (!answered) {
                answered = true;
                markUp();
              }
              resolve(result);
            },
            (error: unknown) => {
              clearTimeout(timer);
              // The server answered (with an error of its own): it is up.
              if (!answered && hasSqlState(error)) {
                answered = true;
                markUp();
              }
              reject(error);
            },
          );
        });
      return {
        query: query as PostgresPoolClient["query"],
        release(destroy?: boolean) {
          // A probe that learnt nothing (its connection was reset): the next caller probes.
          if (asProbe !== undefined && probe === asProbe) settleProbe(false);
          client.release(destroy === true || broken);
        },
      };
    },
    async end() {
      const ended = pool.end();
      const cut = setTimeout(() => {
        for (const client of clients) destroyConnection(client);
      }, options.closeGraceMs);
      try {
        await ended;
      } finally {
        clearTimeout(cut);
        clients.clear();
      }
    },
  };
}

/** The operation that finds out whether the database is back, and what it found. */
interface Probe {
  readonly outcome: Promise<boolean>;
  readonly settle: (up: boolean) => void;
}

/**
 * Whether a query error came from the server: it has a SQLSTATE (five characters, digits
 * among them, unlike Node's socket codes such as EPIPE).
 */
function hasSqlState(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && /\d/.test(code);
}

/** What an operation gets while the database is known to be out: no wait at all. */
function databaseDown(failFastMs: number): Error {
  return Object.assign(
    new Error(`PostgreSQL could not be reached a moment ago; trying again within ${failFastMs} ms`),
    { code: "KEYGUARD_DATABASE_DOWN" },
  );
}

function destroyConnection(client: PgClientLike): void {
  client.connection?.stream?.destroy();
}

/** Node's code for a timed-out operation, so `toStoreError` reports `database_unavailable`. */
function queryTimeout(ms: number): Error {
  return Object.assign(
    new Error(`PostgreSQL did not answer a query within ${ms} ms (queryTimeoutMs)`),
    { code: "ETIMEDOUT" },
  );
}
