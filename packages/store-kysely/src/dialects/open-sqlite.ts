import { accessSync, constants, statSync } from "node:fs";
import { dirname } from "node:path";
import { KeyGuardError, loadOptionalModule } from "@keyguard/core";
import type BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { DatabaseSchema } from "../database-schema.js";
import { withStatementCache } from "./statement-cache.js";

export interface OpenedSqlite {
  readonly db: Kysely<DatabaseSchema>;
  /**
   * Runs a read on the same connection synchronously, bypassing Kysely's async executor.
   * Only for the cold key lookup, whose cost is otherwise dominated by that executor.
   */
  readonly readFirstRowSync: (sql: string, parameters: readonly unknown[]) => unknown;
}

/**
 * Opens (creating if needed) a SQLite file with better-sqlite3, set up for a server:
 * WAL so readers never wait for the usage writer, a busy timeout so two processes on one
 * file queue instead of failing, and foreign keys on.
 */
export async function openSqlite(filename: string): Promise<OpenedSqlite> {
  const { default: Database } = await loadOptionalModule(
    "better-sqlite3",
    "The SQLite store (databaseUrl sqlite:...)",
    () => import("better-sqlite3"),
  );
  if (filename !== ":memory:") assertWritableDirectory(filename);
  let database: InstanceType<typeof Database>;
  try {
    database = new Database(filename);
    database.pragma("journal_mode = WAL");
    database.pragma("busy_timeout = 5000");
    database.pragma("synchronous = NORMAL");
    database.pragma("foreign_keys = ON");
  } catch (cause) {
    throw new KeyGuardError(
      "database_unavailable",
      `Cannot open the SQLite database at ${filename}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const cached = withStatementCache(database);
  return {
    db: new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: cached }) }),
    // better-sqlite3's `get` stops at the first row; `all` would step the cursor to its end.
    readFirstRowSync: (sql, parameters) =>
      (cached.prepare(sql) as unknown as BetterSqlite3.Statement).get(parameters),
  };
}

/** Explains a bad location before SQLite reports a bare "unable to open database file". */
function assertWritableDirectory(filename: string): void {
  const directory = dirname(filename);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(directory).isDirectory();
  } catch {
    throw new KeyGuardError(
      "database_unavailable",
      `Cannot create the SQLite database at ${filename}: the directory ${directory} does not exist. Create it first or choose another path.`,
    );
  }
  if (!isDirectory) {
    throw new KeyGuardError(
      "database_unavailable",
      `Cannot create the SQLite database at ${filename}: ${directory} is not a directory.`,
    );
  }
  try {
    accessSync(directory, constants.W_OK);
  } catch (cause) {
    throw new KeyGuardError(
      "database_unavailable",
      `Cannot create the SQLite database at ${filename}: the directory ${directory} is not writable.`,
      { cause },
    );
  }
}
