import type { DatabaseTarget } from "@keyguard/core";
import { parseDatabaseUrl } from "@keyguard/core/internal";
import { openPostgresChangeFeed } from "./change-feed/open-postgres-change-feed.js";
import { SqliteChangeFeed } from "./change-feed/sqlite-change-feed.js";
import { openPostgres, type PostgresTimeouts } from "./dialects/open-postgres.js";
import { openSqlite } from "./dialects/open-sqlite.js";
import { KyselyStore } from "./kysely-store.js";

/** Settings that apply to PostgreSQL only (SQLite ignores them). */
export interface PostgresStoreSettings extends PostgresTimeouts {
  /** PostgreSQL only: keep KeyGuard's tables in this schema. */
  readonly schema?: string;
  readonly poolSize?: number;
  /**
   * Told when an idle pooled connection fails (the server restarted or went away): the
   * process carries on, and the next query opens a fresh connection or reports the outage.
   */
  readonly onError?: (error: unknown) => void;
}

export type KyselyStoreOptions =
  | (PostgresStoreSettings & {
      /** A database URL in any form `databaseUrl` accepts (`sqlite:keyguard.db`, `postgres://...`). */
      readonly url: string;
    })
  | (PostgresStoreSettings & {
      /** An already parsed target (what `createKeyGuard` passes). */
      readonly database: DatabaseTarget;
    });

/**
 * Opens the store for a database URL. The driver (`better-sqlite3` or `pg`) is loaded only
 * for the dialect in use; a missing one is a `driver_missing` error naming the package.
 * Call `migrate()` before first use (`createKeyGuard` does).
 *
 * On PostgreSQL every wait on the database is bounded (`connectTimeoutMs`,
 * `queryTimeoutMs`, `statementTimeoutMs`; see `PostgresTimeouts`): an unreachable or
 * stalled server makes operations fail with `database_unavailable` within those bounds,
 * a lost connection never crashes the process, and `close()` finishes even when the
 * server no longer answers.
 *
 * @example
 * ```ts
 * const store = await createKyselyStore({ url: "sqlite:keyguard.db" });
 * await store.migrate();
 * ```
 */
export async function createKyselyStore(options: KyselyStoreOptions): Promise<KyselyStore> {
  const target = "database" in options ? options.database : parseDatabaseUrl(options.url);
  if (target.dialect === "sqlite") {
    const { db, readFirstRowSync, readRowsSync, writeTransactionSync } = await openSqlite(
      target.filename,
    );
    const inMemory = target.filename === ":memory:" || target.filename === "";
    return new KyselyStore(db, "sqlite", {
      readFirstRowSync,
      writeTransactionSync,
      openChangeFeed: inMemory
        ? undefined
        : async (onError) =>
            new SqliteChangeFeed({
              readRowsSync,
              appendSync: (notice) =>
                writeTransactionSync((statements) =>
                  statements.run("insert into keyguard_changes (notice) values (?)", [notice]),
                ),
              onError,
            }),
    });
  }
  const settings = {
    connectionString: target.connectionString,
    schema: options.schema,
    poolSize: options.poolSize,
    connectTimeoutMs: options.connectTimeoutMs,
    queryTimeoutMs: options.queryTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
    onError: options.onError,
  };
  const db = await openPostgres(settings);
  return new KyselyStore(db, "postgres", {
    schema: options.schema,
    // Migrations may legitimately run long (an index on a big table): their own short-lived
    // pool has no query or statement bound.
    openMigrationDb: () =>
      openPostgres({ ...settings, poolSize: 2, queryTimeoutMs: 0, statementTimeoutMs: 0 }),
    openChangeFeed: (onError) => openPostgresChangeFeed({ ...settings, onError }),
  });
}
