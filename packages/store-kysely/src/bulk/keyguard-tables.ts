import { openSqlite } from "../dialects/open-sqlite.js";
import { migrateToLatest } from "../migrations/migrate.js";
import { listTables } from "./table-columns.js";

/**
 * Every table KeyGuard's migrations create, in an order where each table comes after the
 * tables it references, with the column(s) that order its rows for reading in batches.
 * `copyDatabase` copies exactly these and refuses a database holding any other table, so
 * a migration that adds a table must add it here too (a test checks that every migrated
 * table is listed).
 */
export interface KeyGuardTable {
  readonly name: string;
  /**
   * The primary key's columns: they order the rows for reading in batches (keyset
   * pagination) and say which rows a `--merge` finds already there.
   */
  readonly key: readonly string[];
}

export const KEYGUARD_TABLES: readonly KeyGuardTable[] = [
  { name: "organizations", key: ["id"] },
  { name: "api_keys", key: ["id"] },
  { name: "usage_logs", key: ["id"] },
  { name: "usage_rollups", key: ["key_id", "hour", "status_class"] },
  { name: "ip_blocks", key: ["id"] },
  { name: "secret_fingerprints", key: ["fingerprint"] },
  { name: "audit_events", key: ["id"] },
  { name: "webhook_endpoints", key: ["id"] },
  { name: "webhook_deliveries", key: ["id"] },
  { name: "webhook_attempts", key: ["id"] },
  { name: "webhook_notices", key: ["kind", "subject_id", "period"] },
  { name: "ip_rules", key: ["id"] },
  { name: "credit_spending", key: ["quota_id", "period_start"] },
];

/**
 * The tables this version's migrations create, found by running them on an empty
 * in-memory database: the authority `copyDatabase` checks `KEYGUARD_TABLES` against, so
 * a table added by a migration but not listed above makes copies fail instead of leaving
 * its rows behind.
 */
export async function migratedTableNames(): Promise<string[]> {
  const { db } = await openSqlite(":memory:");
  try {
    await migrateToLatest(db as never, "sqlite");
    return await listTables(db as never, "sqlite");
  } finally {
    await db.destroy();
  }
}
