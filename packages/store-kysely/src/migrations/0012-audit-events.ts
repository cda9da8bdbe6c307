import type { Kysely, Migration } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * The audit log: one row per change (the event stream's store-backed part), written in
 * the change's own transaction and never updated. The primary key is a UUIDv7, so id
 * order is time order and new rows append to the index. Listings read in id order,
 * filtered by action or target (an index each, ending in id, so a filtered page starts
 * where the last ended) or by time (`at`, which retention deletes by as well).
 */
export function auditEvents(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  const json = dialect === "postgres" ? "jsonb" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("audit_events")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("at", timestamp, (c) => c.notNull())
        .addColumn("actor_type", "varchar(16)", (c) => c.notNull())
        .addColumn("actor_name", "varchar(200)")
        .addColumn("action", "varchar(64)", (c) => c.notNull())
        .addColumn("target_type", "varchar(32)", (c) => c.notNull())
        .addColumn("target_id", "varchar(200)", (c) => c.notNull())
        .addColumn("changes", json, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("audit_events_by_action")
        .ifNotExists()
        .on("audit_events")
        .columns(["action", "id"])
        .execute();
      await db.schema
        .createIndex("audit_events_by_target")
        .ifNotExists()
        .on("audit_events")
        .columns(["target_id", "id"])
        .execute();
      await db.schema
        .createIndex("audit_events_by_time")
        .ifNotExists()
        .on("audit_events")
        .column("at")
        .execute();
    },
  };
}
