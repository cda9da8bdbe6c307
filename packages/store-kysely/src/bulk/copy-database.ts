import { KeyGuardError } from "@keyguard/core";
import { type Kysely, sql, type Transaction } from "kysely";
import type { SqlDialect } from "../column-codec.js";
import { hasKeyGuardSchema } from "../migrations/migrate.js";
import { KEYGUARD_TABLES, type KeyGuardTable, migratedTableNames } from "./keyguard-tables.js";
import { listColumns, listTables, type TableColumn } from "./table-columns.js";

/** One side of a copy: a Kysely instance and its dialect. */
export interface CopyEndpoint {
  // biome-ignore lint/suspicious/noExplicitAny: tables are read generically, by name
  readonly db: Kysely<any>;
  readonly dialect: SqlDialect;
}

export interface CopyOptions {
  /** Copy into a target that already holds data, skipping rows whose key is already there. */
  readonly merge?: boolean;
  /** Rows read per query (default 1,000). */
  readonly batchSize?: number;
}

/** What happened to one table. */
export interface CopiedTable {
  readonly table: string;
  readonly sourceRows: number;
  readonly copied: number;
  /** Rows skipped because the target had them (same key); only with `merge`. */
  readonly alreadyPresent: number;
  readonly targetRows: number;
}

/** Bound parameters per INSERT, below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMETERS = 30_000;

/**
 * Copies every KeyGuard table from `source` to `target` (already migrated), in one
 * transaction on the target, reading the source in one snapshot. Driven by the schema:
 * the tables are `KEYGUARD_TABLES`, and the columns each database actually has, values
 * converted by the target column's declared type (timestamps, booleans, JSON). Hashes
 * are copied as they are, so the same raw keys work against the target with the same
 * secret. Refused, before anything is written: a source without KeyGuard's schema, a table
 * in either database that is not KeyGuard's, a source column the target lacks, and a
 * target that holds data (unless `merge`). At the end every table's row count is checked
 * against the source (with `merge`: against what was there plus what was copied); a
 * mismatch rolls the whole copy back.
 */
export async function copyDatabase(
  source: CopyEndpoint,
  target: CopyEndpoint,
  options: CopyOptions = {},
): Promise<CopiedTable[]> {
  if (!(await hasKeyGuardSchema(source.db, source.dialect))) {
    throw new KeyGuardError(
      "invalid_input",
      "The source has no KeyGuard tables (an empty or another application's database).",
    );
  }
  const registered = new Set(KEYGUARD_TABLES.map((table) => table.name));
  const keyguardTables = await migratedTableNames();
  const unregistered = keyguardTables.filter((table) => !registered.has(table));
  if (unregistered.length > 0) {
    throw new KeyGuardError(
      "internal_error",
      `copy-db does not know how to copy KeyGuard's table(s) ${unregistered.join(", ")} (not in KEYGUARD_TABLES): nothing was copied.`,
    );
  }
  if (source.dialect === "sqlite") {
    // A SQLite file is KeyGuard's own: a table in it that KeyGuard does not create would be
    // left behind. (A PostgreSQL schema is usually shared with the application's tables.)
    const known = new Set(keyguardTables);
    const unknown = (await listTables(source.db, source.dialect)).filter((t) => !known.has(t));
    if (unknown.length > 0) {
      throw new KeyGuardError(
        "invalid_input",
        `The source has table(s) that are not KeyGuard's: ${unknown.join(", ")}. copy-db copies only KeyGuard's tables and refuses rather than leave data behind (a newer KeyGuard's table? copy with that version).`,
      );
    }
  }
  const plans: { table: KeyGuardTable; columns: TableColumn[] }[] = [];
  for (const table of KEYGUARD_TABLES) {
    const sourceColumns = await listColumns(source.db, source.dialect, table.name);
    const targetColumns = await listColumns(target.db, target.dialect, table.name);
    if (targetColumns.length === 0) {
      throw new KeyGuardError(
        "invalid_input",
        `The target has no table ${table.name}: migrate it first.`,
      );
    }
    if (sourceColumns.length === 0) {
      // A table newer than the source's schema: nothing to copy into it.
      plans.push({ table, columns: [] });
      continue;
    }
    const byName = new Map(targetColumns.map((column) => [column.name, column]));
    const missing = sourceColumns.filter((column) => !byName.has(column.name));
    if (missing.length > 0) {
      throw new KeyGuardError(
        "invalid_input",
        `The target's table ${table.name} has no column ${missing.map((c) => c.name).join(", ")}: is it an older KeyGuard's? Run keyguard init on it first.`,
      );
    }
    // The target's declared types decide the conversion; the source's columns decide
    // what is read (a column the source lacks keeps the target's default).
    plans.push({
      table,
      columns: sourceColumns.map((column) => byName.get(column.name) as TableColumn),
    });
  }

  const batch = options.batchSize ?? 1_000;
  return readSnapshot(source, (src) =>
    target.db.transaction().execute(async (dst) => {
      const sourceHasFingerprints = plans.some(
        ({ table, columns }) => table.name === SECRET_FINGERPRINTS && columns.length > 0,
      );
      await refuseAnotherSecret(sourceHasFingerprints ? src : undefined, dst);
      if (!options.merge) {
        const filled = [];
        for (const { table } of plans) {
          // A fingerprint alone is not data: `keyguard init` with a secret records one.
          if (table.name === SECRET_FINGERPRINTS) continue;
          const rows = await countRows(dst, table.name);
          if (rows > 0) filled.push(`${table.name}: ${rows}`);
        }
        if (filled.length > 0) {
          throw new KeyGuardError(
            "invalid_input",
            `The target already holds KeyGuard data (${filled.join(", ")} rows): copy into an empty database, or pass --merge to add what it lacks.`,
          );
        }
      }
      const results: CopiedTable[] = [];
      for (const { table, columns } of plans) {
        const before = await countRows(dst, table.name);
        let copied = 0;
        let read = 0;
        if (columns.length > 0) {
          const names = columns.map((column) => column.name);
          const perInsert = Math.max(1, Math.min(batch, Math.floor(MAX_PARAMETERS / names.length)));
          let after: unknown[] | undefined;
          for (;;) {
            let query = src.selectFrom(table.name).select(names);
            for (const column of table.key) query = query.orderBy(column);
            if (after !== undefined) {
              // Row-value comparison, (a, b) > (x, y): both SQLite and PostgreSQL have it.
              const last = after;
              query = query.where(
                () =>
                  sql<boolean>`(${sql.join(table.key.map((column) => sql.ref(column)))}) > (${sql.join(last)})`,
              );
            }
            const rows = (await query.limit(batch).execute()) as Record<string, unknown>[];
            if (rows.length === 0) break;
            read += rows.length;
            const lastRow = rows[rows.length - 1] as Record<string, unknown>;
            after = table.key.map((column) => lastRow[column]);
            const converted = rows.map((row) => convertRow(row, columns, target.dialect));
            for (let start = 0; start < converted.length; start += perInsert) {
              let insert = dst
                .insertInto(table.name)
                .values(converted.slice(start, start + perInsert));
              // The same secret's fingerprint may be there already (checked above).
              if (options.merge || table.name === SECRET_FINGERPRINTS)
                insert = insert.onConflict((oc) => oc.columns(table.key).doNothing());
              const result = await insert.executeTakeFirst();
              copied += Number(result.numInsertedOrUpdatedRows ?? 0);
            }
            if (rows.length < batch) break;
          }
        }
        const sourceRows = columns.length === 0 ? 0 : await countRows(src, table.name);
        const targetRows = await countRows(dst, table.name);
        const expected =
          options.merge || table.name === SECRET_FINGERPRINTS ? before + copied : sourceRows;
        if (read !== sourceRows || targetRows !== expected) {
          throw new KeyGuardError(
            "internal_error",
            `Copying ${table.name} did not add up (source ${sourceRows} rows, read ${read}, target ${targetRows}, expected ${expected}): nothing was written.`,
          );
        }
        results.push({
          table: table.name,
          sourceRows,
          copied,
          alreadyPresent: read - copied,
          targetRows,
        });
      }
      return results;
    }),
  );
}

/** Runs `use` inside one read-only snapshot of the source, so every table is read at one moment. */
function readSnapshot<T>(
  source: CopyEndpoint,
  // biome-ignore lint/suspicious/noExplicitAny: see CopyEndpoint
  use: (trx: Transaction<any>) => Promise<T>,
): Promise<T> {
  let builder = source.db.transaction();
  if (source.dialect === "postgres") {
    builder = builder.setIsolationLevel("repeatable read").setAccessMode("read only");
  }
  return builder.execute(use);
}

// biome-ignore lint/suspicious/noExplicitAny: see CopyEndpoint
async function countRows(db: Kysely<any>, table: string): Promise<number> {
  const { rows } = await sql<{
    n: number | string;
  }>`select count(*) as n from ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** A source row as the target's columns take it. */
function convertRow(
  row: Record<string, unknown>,
  columns: readonly TableColumn[],
  dialect: SqlDialect,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns)
    out[column.name] = convertValue(row[column.name], column.type, dialect);
  return out;
}

function convertValue(value: unknown, type: string, dialect: SqlDialect): unknown {
  if (value === null || value === undefined) return null;
  if (dialect === "sqlite") {
    // KeyGuard's SQLite columns: ISO text dates, 0/1 booleans, JSON as text.
    if (value instanceof Date) return value.toISOString();
    if (typeof value === "boolean") return value ? 1 : 0;
    if (typeof value === "bigint") return Number(value);
    if (typeof value === "object" && !Buffer.isBuffer(value)) return JSON.stringify(value);
    return value;
  }
  if (type === "bool") return value === true || value === 1 || value === "1" || value === "t";
  if (type === "json" || type === "jsonb")
    return typeof value === "string" ? value : JSON.stringify(value);
  if ((type === "timestamptz" || type === "timestamp") && typeof value === "string") {
    return new Date(value);
  }
  return value;
}

const SECRET_FINGERPRINTS = "secret_fingerprints";

/**
 * Keys are copied with their hashes, which only the secret they were made with verifies:
 * a target that records another secret would hold keys no server of either can use.
 */
async function refuseAnotherSecret(
  // biome-ignore lint/suspicious/noExplicitAny: see CopyEndpoint
  src: Transaction<any> | undefined,
  // biome-ignore lint/suspicious/noExplicitAny: see CopyEndpoint
  dst: Transaction<any>,
): Promise<void> {
  // biome-ignore lint/suspicious/noExplicitAny: see CopyEndpoint
  const current = async (db: Transaction<any>): Promise<string | undefined> =>
    (
      await db
        .selectFrom(SECRET_FINGERPRINTS)
        .select("fingerprint")
        .where("role", "=", "current")
        .executeTakeFirst()
    )?.fingerprint;
  if (src === undefined) return; // a source from before fingerprints were recorded
  const [from, to] = [await current(src), await current(dst)];
  if (from !== undefined && to !== undefined && from !== to) {
    throw new KeyGuardError(
      "secret_mismatch",
      `The target's keys are hashed with another secret (fingerprint ${to.slice(0, 12)}) than the source's (fingerprint ${from.slice(0, 12)}): copied keys would work with neither. Copy into a database made with the source's secret, or an empty one.`,
    );
  }
}
