import { type DatabaseTarget, parseDatabaseUrl } from "@keyguard/core";
import { openPostgres } from "./dialects/open-postgres.js";
import { openSqlite } from "./dialects/open-sqlite.js";
import { KyselyStore } from "./kysely-store.js";

export type KyselyStoreOptions =
  | {
      /** A database URL in any form `databaseUrl` accepts (`sqlite:keyguard.db`, `postgres://...`). */
      readonly url: string;
      /** PostgreSQL only: keep KeyGuard's tables in this schema. */
      readonly schema?: string;
      readonly poolSize?: number;
    }
  | {
      /** An already parsed target (what `createKeyGuard` passes). */
      readonly database: DatabaseTarget;
      readonly schema?: string;
      readonly poolSize?: number;
    };

/**
 * Opens the store for a database URL. The driver (`better-sqlite3` or `pg`) is loaded only
 * for the dialect in use; a missing one is a `driver_missing` error naming the package.
 * Call `migrate()` before first use (`createKeyGuard` does).
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
    const { db, readFirstRowSync, writeTransactionSync } = await openSqlite(target.filename);
    return new KyselyStore(db, "sqlite", { readFirstRowSync, writeTransactionSync });
  }
  const db = await openPostgres({
    connectionString: target.connectionString,
    schema: options.schema,
    poolSize: options.poolSize,
  });
  return new KyselyStore(db, "postgres", { schema: options.schema });
}
