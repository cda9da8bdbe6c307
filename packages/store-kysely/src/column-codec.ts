import type { DbBoolean, DbDate, DbInteger } from "./database-schema.js";

export type SqlDialect = "sqlite" | "postgres";

/**
 * Converts values between KeyGuard's types and each database's column types, so the
 * store's queries are written once.
 *
 * SQLite keeps dates as ISO-8601 UTC text (fixed width, so text order is time order and
 * range queries use the index) and booleans as 0/1; better-sqlite3 binds neither `Date`
 * nor `boolean`. PostgreSQL gets native `timestamptz`, `boolean` and `jsonb`.
 */
export interface ColumnCodec {
  date(value: Date): DbDate;
  readDate(value: DbDate): Date;
  boolean(value: boolean): DbBoolean;
  readBoolean(value: DbBoolean): boolean;
  json(value: unknown): string;
  readJson(value: unknown): unknown;
  /** COUNT(*) and BIGINT come back as strings from pg. */
  readInteger(value: DbInteger): number;
}

const shared = {
  json: (value: unknown) => JSON.stringify(value),
  readInteger: (value: DbInteger) => Number(value),
};

const sqliteCodec: ColumnCodec = {
  ...shared,
  date: (value) => value.toISOString(),
  readDate: (value) => new Date(value),
  boolean: (value) => (value ? 1 : 0),
  readBoolean: (value) => value === 1 || value === true,
  readJson: (value) => (typeof value === "string" ? JSON.parse(value) : value),
};

const postgresCodec: ColumnCodec = {
  ...shared,
  date: (value) => value,
  readDate: (value) => (value instanceof Date ? value : new Date(value)),
  boolean: (value) => value,
  readBoolean: (value) => value === true,
  // pg parses jsonb itself.
  readJson: (value) => value,
};

export function codecFor(dialect: SqlDialect): ColumnCodec {
  return dialect === "sqlite" ? sqliteCodec : postgresCodec;
}
