import type { Kysely, Migration } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/** keyguard-python's three tables, with the indexes the hot queries need. */
export function initialSchema(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  const boolean = dialect === "postgres" ? "boolean" : "integer";
  const json = dialect === "postgres" ? "jsonb" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("organizations")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("name", "varchar(200)", (c) => c.notNull())
        .addColumn("status", "varchar(16)", (c) => c.notNull().defaultTo("active"))
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("organizations_name_unique")
        .ifNotExists()
        .unique()
        .on("organizations")
        .column("name")
        .execute();

      await db.schema
        .createTable("api_keys")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("org_id", "varchar(36)", (c) => c.notNull().references("organizations.id"))
        .addColumn("label", "varchar(200)", (c) => c.notNull())
        .addColumn("prefix", "varchar(16)", (c) => c.notNull())
        .addColumn("key_hash", "varchar(64)", (c) => c.notNull())
        .addColumn("is_active", boolean, (c) => c.notNull())
        .addColumn("scopes", json, (c) => c.notNull())
        .addColumn("rate_limit_per_minute", "integer", (c) => c.notNull())
        .addColumn("monthly_limit", "bigint")
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .addColumn("expires_at", timestamp)
        .addColumn("last_used_at", timestamp)
        .execute();
      await db.schema
        .createIndex("api_keys_key_hash_unique")
        .ifNotExists()
        .unique()
        .on("api_keys")
        .column("key_hash")
        .execute();
      await db.schema
        .createIndex("api_keys_prefix")
        .ifNotExists()
        .on("api_keys")
        .column("prefix")
        .execute();
      await db.schema
        .createIndex("api_keys_org_id")
        .ifNotExists()
        .on("api_keys")
        .column("org_id")
        .execute();

      await db.schema
        .createTable("usage_logs")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("key_id", "varchar(36)", (c) => c.notNull().references("api_keys.id"))
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("method", "varchar(16)", (c) => c.notNull())
        .addColumn("status_code", "integer", (c) => c.notNull())
        .addColumn("latency_ms", "integer", (c) => c.notNull())
        .addColumn("ip_address", "varchar(64)")
        .addColumn("timestamp", timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("usage_logs_key_id_timestamp")
        .ifNotExists()
        .on("usage_logs")
        .columns(["key_id", "timestamp"])
        .execute();
      await db.schema
        .createIndex("usage_logs_timestamp")
        .ifNotExists()
        .on("usage_logs")
        .column("timestamp")
        .execute();
    },
  };
}
