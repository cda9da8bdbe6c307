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

export interface GuardedPoolOptions {
  /** A query whose reply has not arrived after this long fails and its connection is dropped. */
  readonly queryTimeoutMs: number;
  /** How long `end()` lets connections close politely before cutting them. */
  readonly closeGraceMs: number;
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

  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let broken = false;
      const query = (sql: string, parameters: readonly unknown[]) =>
        new Promise<PostgresQueryResult<unknown>>((resolve, reject) => {
          const timer = setTimeout(() => {
            broken = true;
            destroyConnection(client);
            reject(queryTimeout(options.queryTimeoutMs));
          }, options.queryTimeoutMs);
          client.query(sql, [...parameters]).then(
            (result) => {
              clearTimeout(timer);
              resolve(result);
            },
            (error: unknown) => {
              clearTimeout(timer);
              reject(error);
            },
          );
        });
      return {
        query: query as PostgresPoolClient["query"],
        release(destroy?: boolean) {
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
