import { setTimeout as sleep } from "node:timers/promises";
import { KeyGuardError } from "@keyguard/core";
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";
import { initialSchema } from "./0001-initial-schema.js";
import { ipBlocks } from "./0002-ip-blocks.js";
import { usageRequestCount } from "./0003-usage-request-count.js";
import { listingIndexes } from "./0004-listing-indexes.js";
import { usageRollups } from "./0006-usage-rollups.js";
import { usageCharged } from "./0007-usage-charged.js";
import { keyQuotaLineage } from "./0008-key-quota-lineage.js";
import { automaticBlocks } from "./0009-automatic-blocks.js";
import { secretFingerprint } from "./0010-secret-fingerprint.js";
import { keyHashScheme } from "./0011-key-hash-scheme.js";
import { auditEvents } from "./0012-audit-events.js";
import { webhooks } from "./0013-webhooks.js";
import { changeNotices } from "./0014-change-notices.js";
import { limitPolicies } from "./0015-limit-policies.js";
import { ipRules } from "./0016-ip-rules.js";
import { keyCredits } from "./0017-key-credits.js";
import { concurrencyLimits } from "./0018-concurrency-limits.js";
import { withSchemaScopedIntrospection } from "./schema-scoped-introspection.js";

/** Every migration, in order. Names sort in the order they must run; never rename one. */
function migrationsFor(dialect: SqlDialect): Record<string, Migration> {
  return {
    "0001_initial_schema": initialSchema(dialect),
    "0002_ip_blocks": ipBlocks(dialect),
    "0003_usage_request_count": usageRequestCount(),
    "0004_listing_indexes": listingIndexes(),
    "0006_usage_rollups": usageRollups(dialect),
    "0007_usage_charged": usageCharged(dialect),
    "0008_key_quota_lineage": keyQuotaLineage(),
    "0009_automatic_blocks": automaticBlocks(dialect),
    "0010_secret_fingerprint": secretFingerprint(dialect),
    "0011_key_hash_scheme": keyHashScheme(),
    "0012_audit_events": auditEvents(dialect),
    "0013_webhooks": webhooks(dialect),
    "0014_change_notices": changeNotices(dialect),
    "0015_limit_policies": limitPolicies(),
    "0016_ip_rules": ipRules(dialect),
    "0017_key_credits": keyCredits(dialect),
    "0018_concurrency_limits": concurrencyLimits(dialect),
  };
}

// KeyGuard's own bookkeeping tables, so they never collide with an app's Kysely migrations.
export const MIGRATION_TABLE = "keyguard_migration";
export const MIGRATION_LOCK_TABLE = "keyguard_migration_lock";

const MAX_ATTEMPTS = 20;

/**
 * Brings the schema to the latest version. Safe to run concurrently from several
 * processes, and while other schemas of the database change: PostgreSQL serialises through
 * Kysely's advisory lock; SQLite has no such lock,
 * so a process that loses the race for the write lock (SQLITE_BUSY, or a table another
 * process just created) waits briefly and tries again, by which time the work is done.
 */
export async function migrateToLatest(
  db: Kysely<unknown>,
  dialect: SqlDialect,
  schema?: string,
): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(dialect) };
  await refuseForeignTables(db, dialect, schema);
  for (let attempt = 1; ; attempt++) {
    try {
      if (schema !== undefined) {
        await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
      }
      // On PostgreSQL the migrator looks for its tables in the target schema and nowhere
      // else: named explicitly, and seen through an introspection of that schema alone (see
      // schema-scoped-introspection.ts), so other schemas of the database, another app's or
      // another test's, neither satisfy nor break the search.
      const migrationTableSchema =
        dialect === "postgres" ? (schema ?? (await currentSchema(db))) : undefined;
      const migrator = new Migrator({
        db:
          migrationTableSchema === undefined
            ? db
            : withSchemaScopedIntrospection(db, migrationTableSchema),
        provider,
        migrationTableName: MIGRATION_TABLE,
        migrationLockTableName: MIGRATION_LOCK_TABLE,
        ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
      });
      const { error } = await migrator.migrateToLatest();
      if (error !== undefined) throw error;
      return;
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isConcurrentMigrationConflict(error)) throw error;
      await sleep(20 + Math.random() * 80 * attempt);
    }
  }
}

/** Whether KeyGuard's migration table exists (in `schema`, else the current one). */
export async function hasKeyGuardSchema(
  db: Kysely<unknown>,
  dialect: SqlDialect,
  schema?: string,
): Promise<boolean> {
  const { rows } =
    dialect === "postgres"
      ? await sql<{ found: number }>`select 1 as found from information_schema.tables
          where table_schema = coalesce(${schema ?? null}::text, current_schema())
            and table_name = ${MIGRATION_TABLE}`.execute(db)
      : await sql<{ found: number }>`select 1 as found from sqlite_master
          where type = 'table' and name = ${MIGRATION_TABLE}`.execute(db);
  return rows.length > 0;
}

/**
 * keyguard-python uses the same table names (`organizations`, `api_keys`, `usage_logs`).
 * Migrating such a database in place would keep its rows under KeyGuard's schema: its
 * keys would be listed as active and refused on every request (their hashes are
 * keyguard-python's). A database with those tables but without KeyGuard's migration table
 * is refused instead, pointing at `keyguard import-python`. (KeyGuard creates its
 * migration table before any of its own tables, so a migration in progress elsewhere is
 * never mistaken for one.)
 */
async function refuseForeignTables(
  db: Kysely<unknown>,
  dialect: SqlDialect,
  schema: string | undefined,
): Promise<void> {
  if (await hasKeyGuardSchema(db, dialect, schema)) return;
  const { rows } =
    dialect === "postgres"
      ? await sql<{ found: number }>`select 1 as found from information_schema.tables
          where table_schema = coalesce(${schema ?? null}::text, current_schema())
            and table_name = 'api_keys'`.execute(db)
      : await sql<{ found: number }>`select 1 as found from sqlite_master
          where type = 'table' and name = 'api_keys'`.execute(db);
  if (rows.length > 0) {
    throw new KeyGuardError(
      "invalid_config",
      "This database has an api_keys table that KeyGuard did not create (keyguard-python's schema?): KeyGuard does not take it over in place. Import it into a database of its own with: keyguard import-python --from <this database> --db <new database>.",
    );
  }
}

function isConcurrentMigrationConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : "";
  return (
    (typeof code === "string" && code.startsWith("SQLITE_BUSY")) ||
    code === "23505" || // PostgreSQL: duplicate key while two sessions create the same schema
    code === "42P06" || // duplicate_schema
    /already exists|duplicate column/i.test(message) ||
    // SQLite: another process recorded the same migration first.
    (code === "SQLITE_CONSTRAINT_PRIMARYKEY" && message.includes(MIGRATION_TABLE)) ||
    (code === "SQLITE_CONSTRAINT_UNIQUE" && message.includes(MIGRATION_TABLE))
  );
}

/** The schema unqualified tables are created in (the first existing one on the search path). */
async function currentSchema(db: Kysely<unknown>): Promise<string> {
  const { rows } = await sql<{ name: string | null }>`select current_schema() as name`.execute(db);
  const name = rows[0]?.name;
  if (name === null || name === undefined) {
    throw new KeyGuardError(
      "invalid_config",
      "The PostgreSQL search_path names no existing schema: create it, or pass `schema` to have KeyGuard create it.",
    );
  }
  return name;
}
