import { KeyGuardError, loadOptionalModule } from "@keyguard/core";
import { Kysely, PostgresDialect } from "kysely";
import type { DatabaseSchema } from "../database-schema.js";

export interface PostgresOptions {
  readonly connectionString: string;
  /** Keep KeyGuard's tables in this schema (created by `migrate()`); default: the search path. */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens a pg pool for KeyGuard. Nothing connects until the first query. */
export async function openPostgres(options: PostgresOptions): Promise<Kysely<DatabaseSchema>> {
  const pg = await loadOptionalModule(
    "pg",
    "The PostgreSQL store (databaseUrl postgres://...)",
    () => import("pg"),
  );
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new KeyGuardError(
      "invalid_config",
      `schema "${options.schema}" must be a lower-case SQL identifier (letters, digits, _)`,
    );
  }
  const Pool = pg.default?.Pool ?? pg.Pool;
  const pool = new Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    // Fail fast when the server is down instead of queueing requests behind a dead pool.
    connectionTimeoutMillis: 5_000,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
  // An idle client losing its connection (server restart) is not fatal: the pool drops it
  // and the next query reports the outage. Without a listener Node would crash the process.
  pool.on("error", () => {});
  // pg-pool listens for a client's errors only while it is idle: a connection dropped while
  // a client is checked out (mid-transaction, or just after a COMMIT was sent) would be an
  // unhandled `error` event. The query in flight fails anyway and reports the outage.
  pool.on("connect", (client: { on(event: "error", listener: () => void): unknown }) => {
    client.on("error", () => {});
  });
  return new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
}
