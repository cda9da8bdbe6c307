import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Webhooks: registered endpoints (the signing secret sealed under the server secret), the
 * delivery outbox (one row per event and endpoint, claimed with a lease), each attempt,
 * the notices raised once (`key.expiring` per key and expiry, `quota.exceeded` per key
 * and month).
 */
export function webhooks(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("webhook_endpoints")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("url", "text", (c) => c.notNull())
        .addColumn("events", "text", (c) => c.notNull())
        .addColumn("sealed_secret", "text", (c) => c.notNull())
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("webhook_endpoints_created")
        .ifNotExists()
        .on("webhook_endpoints")
        .columns(["created_at", "id"])
        .execute();
      await db.schema
        .createTable("webhook_deliveries")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("endpoint_id", "varchar(36)", (c) =>
          c.notNull().references("webhook_endpoints.id").onDelete("cascade"),
        )
        .addColumn("event_id", "varchar(36)", (c) => c.notNull())
        .addColumn("event_type", "varchar(64)", (c) => c.notNull())
        .addColumn("body", "text", (c) => c.notNull())
        .addColumn("status", "varchar(16)", (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .addColumn("next_attempt_at", timestamp)
        .addColumn("lease_owner", "varchar(36)")
        .addColumn("lease_until", timestamp)
        .addColumn("delivered_at", timestamp)
        .addColumn("finished_at", timestamp)
        .addUniqueConstraint("webhook_deliveries_once", ["endpoint_id", "event_id"])
        .execute();
      // Claims read the due pending rows in time order; listings one endpoint's, newest first.
      await sql`create index if not exists webhook_deliveries_due
        on webhook_deliveries (next_attempt_at) where status = 'pending'`.execute(db);
      await db.schema
        .createIndex("webhook_deliveries_endpoint")
        .ifNotExists()
        .on("webhook_deliveries")
        .columns(["endpoint_id", "created_at", "id"])
        .execute();
      await sql`create index if not exists webhook_deliveries_finished
        on webhook_deliveries (finished_at) where status <> 'pending'`.execute(db);
      await db.schema
        .createTable("webhook_attempts")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("delivery_id", "varchar(36)", (c) =>
          c.notNull().references("webhook_deliveries.id").onDelete("cascade"),
        )
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("started_at", timestamp, (c) => c.notNull())
        .addColumn("duration_ms", "integer", (c) => c.notNull())
        .addColumn("status_code", "integer")
        .addColumn("error", "text")
        .execute();
      await db.schema
        .createIndex("webhook_attempts_delivery")
        .ifNotExists()
        .on("webhook_attempts")
        .columns(["delivery_id", "attempt"])
        .execute();
      await db.schema
        .createTable("webhook_notices")
        .ifNotExists()
        .addColumn("kind", "varchar(32)", (c) => c.notNull())
        .addColumn("subject_id", "varchar(36)", (c) => c.notNull())
        .addColumn("period", timestamp, (c) => c.notNull())
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint("webhook_notices_pk", ["kind", "subject_id", "period"])
        .execute();
    },
  };
}
