import { existsSync } from "node:fs";
import { type DatabaseTarget, KeyGuardError } from "@keyguard/core";
import { loadOptionalModule, redactUrl } from "@keyguard/core/internal";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import type { SqlDialect } from "../column-codec.js";
import { loadBetterSqlite3 } from "./load-better-sqlite3.js";

/** A database opened only to be read (another system's, or the source of a copy). */
export interface ReadOnlyDatabase {
  readonly dialect: SqlDialect;
  /** Untyped: the tables are whatever that database has. */
  // biome-ignore lint/suspicious/noExplicitAny: another system's schema
  readonly db: Kysely<any>;
  close(): Promise<void>;
}

/**
 * Opens a database for reading only: a SQLite file that must exist (opened read-only, so
 * nothing, not even a journal mode, is changed), or a PostgreSQL connection whose
 * transactions are read-only by default. Nothing is created.
 */
export async function openReadOnlyDatabase(
  target: DatabaseTarget,
  display: string,
): Promise<ReadOnlyDatabase> {
  if (target.dialect === "sqlite") {
    if (target.filename === ":memory:" || !existsSync(target.filename)) {
      throw new KeyGuardError("database_unavailable", `No database file at ${target.filename}.`);
    }
    const Database = await loadBetterSqlite3();
    let database: InstanceType<typeof Database>;
    try {
      database = new Database(target.filename, { readonly: true, fileMustExist: true });
      database.pragma("busy_timeout = 5000");
      // Reads fail on a file that is not a database; ask now, so it is one clear line.
      database.prepare("select count(*) from sqlite_master").get();
    } catch (cause) {
      throw new KeyGuardError(
        "database_unavailable",
        `Cannot read the SQLite database at ${target.filename}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const db = new Kysely({ dialect: new SqliteDialect({ database }) });
    return { dialect: "sqlite", db, close: () => db.destroy() };
  }
  const pg = await loadOptionalModule("pg", "Reading a PostgreSQL database", () => import("pg"));
  const Pool = pg.default?.Pool ?? pg.Pool;
  const pool = new Pool({
    connectionString: target.connectionString,
    max: 2,
    connectionTimeoutMillis: 5_000,
  });
  pool.on("error", () => {});
  // Every session read-only, whatever the URL's own options say (the URL's `options`
  // parameter would override a pool setting, so it is a statement at connect time).
  pool.on("connect", (client: { query(sql: string): Promise<unknown> }) => {
    client.query("set session characteristics as transaction read only").catch(() => {});
  });
  const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  try {
    await db.selectNoFrom((eb) => eb.val(1).as("one")).execute();
  } catch (cause) {
    await db.destroy();
    throw new KeyGuardError(
      "database_unavailable",
      `Cannot read the PostgreSQL database at ${redactUrl(display)}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return { dialect: "postgres", db, close: () => db.destroy() };
}
