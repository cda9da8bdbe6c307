import { accessSync, closeSync, constants, fchmodSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { KeyGuardError } from "@keyguard/core";
import type BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { DatabaseSchema } from "../database-schema.js";
import { loadBetterSqlite3 } from "./load-better-sqlite3.js";
import { withStatementCache } from "./statement-cache.js";

export interface OpenedSqlite {
  readonly db: Kysely<DatabaseSchema>;
  /**
   * Runs a read on the same connection synchronously, bypassing Kysely's async executor.
   * Only for the cold key lookup, whose cost is otherwise dominated by that executor.
   */
  readonly readFirstRowSync: (sql: string, parameters: readonly unknown[]) => unknown;
  /** Runs `work` as one synchronous write transaction (`BEGIN IMMEDIATE`): see below. */
  readonly writeTransactionSync: WriteTransactionSync;
}

/** Statements run synchronously on the connection, inside a write transaction. */
export interface SyncStatements {
  /** Runs a write; the number of rows it changed. */
  run(sql: string, parameters: readonly unknown[]): number;
  /** The first row of a read. */
  first(sql: string, parameters: readonly unknown[]): unknown;
  /** Every row of a read (or of a write's `RETURNING`). */
  all(sql: string, parameters: readonly unknown[]): unknown[];
}

/**
 * A write transaction that takes the write lock first (`BEGIN IMMEDIATE`: another process
 * holding it is waited for, up to the busy timeout) and runs without yielding to the event
 * loop. Kysely's transactions await between statements, and while one connection holds the
 * write lock across such a wait, a second connection in the same thread asking for it
 * blocks the thread in SQLite's busy handler: the first can never commit, and the second
 * fails after the timeout. Decisions that must be one transaction (a rotation) run here.
 */
export type WriteTransactionSync = <T>(work: (statements: SyncStatements) => T) => T;

/**
 * Opens (creating if needed) a SQLite file with better-sqlite3, set up for a server:
 * WAL so readers never wait for the usage writer, a busy timeout so two processes on one
 * file queue instead of failing, and foreign keys on. A new file is created readable and
 * writable by its owner only (0600), whatever the umask: it holds key hashes, client
 * addresses and usage. SQLite gives the `-wal` and `-shm` files the mode of the database
 * file, so they are 0600 too. An existing file keeps the mode its owner gave it.
 */
export async function openSqlite(filename: string): Promise<OpenedSqlite> {
  const Database = await loadBetterSqlite3();
  const onDisk = filename !== ":memory:" && filename !== "";
  if (onDisk) assertWritableDirectory(filename);
  let database: InstanceType<typeof Database>;
  try {
    if (onDisk) createPrivately(filename);
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
  const prepared = (sql: string) => cached.prepare(sql) as unknown as BetterSqlite3.Statement;
  const statements: SyncStatements = {
    run: (sql, parameters) => prepared(sql).run(parameters).changes,
    first: (sql, parameters) => prepared(sql).get(parameters),
    all: (sql, parameters) => prepared(sql).all(parameters),
  };
  return {
    db: new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: cached }) }),
    // better-sqlite3's `get` stops at the first row; `all` would step the cursor to its end.
    readFirstRowSync: (sql, parameters) => prepared(sql).get(parameters),
    writeTransactionSync: (work) => database.transaction(() => work(statements)).immediate(),
  };
}

/**
 * Creates `filename` empty (an empty file is an empty SQLite database) with mode 0600,
 * unless it exists. `wx` makes creating and checking one step, so of two processes
 * opening a new file at once one creates it and the other finds it; neither changes the
 * mode of a file someone else made. The explicit chmod makes the mode exactly 0600 even
 * under a umask that would also strip the owner's bits.
 */
function createPrivately(filename: string): void {
  let fd: number;
  try {
    fd = openSync(filename, "wx", 0o600);
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return;
    throw error;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
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
