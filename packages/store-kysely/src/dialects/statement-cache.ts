import type { SqliteDatabase, SqliteStatement } from "kysely";
import { LRUCache } from "lru-cache";

/** The part of a better-sqlite3 `Database` this wrapper needs. */
interface PreparingDatabase {
  prepare(sql: string): SqliteStatement;
  close(): unknown;
}

/**
 * Gives Kysely's SQLite driver prepared-statement reuse. The driver calls `prepare(sql)`
 * for every query, and preparing costs more than running a point lookup, so statements
 * are kept per SQL text in a bounded LRU. Reuse is safe because the driver runs one query
 * at a time per connection and KeyGuard never streams (an iterating statement is busy).
 */
export function withStatementCache(
  database: PreparingDatabase,
  maxStatements = 256,
): SqliteDatabase {
  const statements = new LRUCache<string, SqliteStatement>({ max: maxStatements });
  return {
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      database.close();
    },
  };
}
