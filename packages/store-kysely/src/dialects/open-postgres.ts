import { KeyGuardError } from "@keyguard/core";
import { loadOptionalModule } from "@keyguard/core/internal";
import { Kysely, PostgresDialect } from "kysely";
import { toStoreError } from "../database-errors.js";
import type { DatabaseSchema } from "../database-schema.js";
import { guardPostgresPool, type PgPoolLike } from "./guarded-postgres-pool.js";

/** How long a PostgreSQL store waits for the database; see {@link PostgresOptions}. */
export interface PostgresTimeouts {
  /**
   * Opening a connection, or waiting for a free one when all `poolSize` are busy, fails
   * after this long (default 5,000 ms).
   */
  readonly connectTimeoutMs?: number;
  /**
   * A query whose reply has not arrived after this long fails (`database_unavailable`) and
   * its connection is discarded: a stalled server or half-open connection never answers
   * nor errors (default 5,000 ms). 0 = no bound.
   */
  readonly queryTimeoutMs?: number;
  /**
   * PostgreSQL's own `statement_timeout`: the server cancels a statement running longer
   * (default 4,000 ms, below `queryTimeoutMs` so a slow statement is cancelled and its
   * connection kept). 0 = no bound. Migrations run without either bound.
   */
  readonly statementTimeoutMs?: number;
}

export const DEFAULT_POSTGRES_TIMEOUTS = {
  connectTimeoutMs: 5_000,
  queryTimeoutMs: 5_000,
  statementTimeoutMs: 4_000,
} as const satisfies Required<PostgresTimeouts>;

export interface PostgresOptions extends PostgresTimeouts {
  readonly connectionString: string;
  /** Keep KeyGuard's tables in this schema (created by `migrate()`); default: the search path. */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** Told when an idle pooled connection fails (default: nothing; the next query reports it). */
  readonly onError?: (error: unknown) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** How long closing lets connections say goodbye before they are cut (a stalled server never does). */
const CLOSE_GRACE_MS = 1_000;
/**
 * Once PostgreSQL is known to be out, operations fail at once for this long before one
 * probes again: how soon a recovered database is used again, at worst.
 */
const FAIL_FAST_MS = 1_000;
/** A client-side bound larger than any query: what "no bound" means for the timer. */
const NO_BOUND_MS = 2_147_483_647;

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
  const timeouts = { ...DEFAULT_POSTGRES_TIMEOUTS, ...definedOnly(options) };
  for (const [name, value] of Object.entries(timeouts)) {
    if (!Number.isInteger(value) || value < 0 || value > NO_BOUND_MS) {
      throw new KeyGuardError("invalid_config", `${name} must be a whole number of milliseconds`);
    }
  }
  const Pool = pg.default?.Pool ?? pg.Pool;
  const pool = new Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    // Fail fast when the server is down instead of queueing requests behind a dead pool.
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    ...(timeouts.statementTimeoutMs > 0 ? { statement_timeout: timeouts.statementTimeoutMs } : {}),
    // Idle connections to a peer that vanished (no RST) are noticed by the OS eventually.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
  const guarded = guardPostgresPool(pool as unknown as PgPoolLike, {
    queryTimeoutMs: timeouts.queryTimeoutMs === 0 ? NO_BOUND_MS : timeouts.queryTimeoutMs,
    closeGraceMs: CLOSE_GRACE_MS,
    failFastMs: FAIL_FAST_MS,
    // An idle client losing its connection (server restart) is not fatal: the pool drops it
    // and the next query reports the outage.
    onIdleError: (error) => options.onError?.(toStoreError(error, "postgres")),
  });
  return new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool: guarded }) });
}

function definedOnly(options: PostgresTimeouts): PostgresTimeouts {
  const result: { -readonly [K in keyof PostgresTimeouts]: number } = {};
  for (const name of Object.keys(DEFAULT_POSTGRES_TIMEOUTS) as (keyof PostgresTimeouts)[]) {
    if (options[name] !== undefined) result[name] = options[name];
  }
  return result;
}
