import { loadOptionalModule } from "@keyguard/core/internal";
import { DEFAULT_POSTGRES_TIMEOUTS } from "../dialects/open-postgres.js";
import { type PgListenClient, PostgresChangeFeed } from "./postgres-change-feed.js";

export interface PostgresChangeFeedSettings {
  readonly connectionString: string;
  /** KeyGuard's schema, as the store's pool sets it; default: the search path's first. */
  readonly schema?: string;
  readonly connectTimeoutMs?: number;
  readonly onError: (error: unknown) => void;
}

/** How the listening connection shows in `pg_stat_activity` (unless the URL names one). */
export const CHANGE_FEED_APPLICATION_NAME = "keyguard-change-feed";

/**
 * Opens the PostgreSQL change feed on a connection of its own and waits for its first
 * attempt to connect and LISTEN (bounded by `connectTimeoutMs`). A database that is not
 * answering does not fail this: the feed keeps trying in the background.
 */
export async function openPostgresChangeFeed(
  settings: PostgresChangeFeedSettings,
): Promise<PostgresChangeFeed> {
  const pg = await loadOptionalModule(
    "pg",
    "The PostgreSQL change feed (databaseUrl postgres://...)",
    () => import("pg"),
  );
  const Client = pg.default?.Client ?? pg.Client;
  const connectTimeoutMs = settings.connectTimeoutMs ?? DEFAULT_POSTGRES_TIMEOUTS.connectTimeoutMs;
  const feed = new PostgresChangeFeed({
    createClient: () =>
      new Client({
        connectionString: settings.connectionString,
        application_name: CHANGE_FEED_APPLICATION_NAME,
        connectionTimeoutMillis: connectTimeoutMs,
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        ...(settings.schema === undefined ? {} : { options: `-c search_path=${settings.schema}` }),
      }) as unknown as PgListenClient,
    onError: settings.onError,
    // 0 is "no bound" for connecting; the feed's own steps are always bounded.
    answerTimeoutMs:
      connectTimeoutMs > 0 ? connectTimeoutMs : DEFAULT_POSTGRES_TIMEOUTS.connectTimeoutMs,
  });
  await feed.ready;
  return feed;
}
