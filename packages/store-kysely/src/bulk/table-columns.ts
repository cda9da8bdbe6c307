import { type Kysely, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";
import { CHANGE_LOG_TABLE } from "../migrations/0014-change-notices.js";
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from "../migrations/migrate.js";

/** A column as the database declares it. */
export interface TableColumn {
  readonly name: string;
  /** Lower-case declared type: `timestamptz`, `boolean`, `jsonb`, `integer`, `text`, ... */
  readonly type: string;
}

/**
 * The tables of the current schema (SQLite: the file), without KeyGuard's bookkeeping
 * (migrations, the change log).
 */
export async function listTables(db: Kysely<unknown>, dialect: SqlDialect): Promise<string[]> {
  const { rows } =
    dialect === "postgres"
      ? await sql<{ name: string }>`select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db)
      : await sql<{ name: string }>`select name from sqlite_master
          where type = 'table' and name not like 'sqlite\\_%' escape '\\'`.execute(db);
  return rows
    .map((row) => row.name)
    .filter(
      (name) =>
        name !== MIGRATION_TABLE && name !== MIGRATION_LOCK_TABLE && name !== CHANGE_LOG_TABLE,
    )
    .sort();
}

/** A table's columns in declaration order. */
export async function listColumns(
  db: Kysely<unknown>,
  dialect: SqlDialect,
  table: string,
): Promise<TableColumn[]> {
  const { rows } =
    dialect === "postgres"
      ? await sql<{ name: string; type: string }>`select column_name as name, udt_name as type
          from information_schema.columns
          where table_schema = current_schema() and table_name = ${table}
          order by ordinal_position`.execute(db)
      : await sql<{
          name: string;
          type: string;
        }>`select name, type from pragma_table_info(${table})`.execute(db);
  return rows.map((row) => ({ name: row.name, type: String(row.type).toLowerCase() }));
}
