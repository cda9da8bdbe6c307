import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Usage older than a day is summed into `usage_rollups`: one row per key, UTC hour and
 * status class (100, 200, 300, 400, 429 kept apart from the other 4xx, 500), with how many
 * requests it stands for and how many of them were charged to the quota. A usage row that
 * has been added to a rollup is marked `rolled_up` (and deleted later, after
 * `usage.retentionDays`); reads count unmarked rows plus rollups, so every total is the
 * same before and after. The partial index lets the background job find the rows still
 * to roll up without reading the rolled-up ones.
 */
export function usageRollups(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  const boolean = dialect === "postgres" ? "boolean" : "integer";
  const no = dialect === "postgres" ? sql`false` : sql`0`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("usage_logs")
        .addColumn("rolled_up", boolean, (c) => c.notNull().defaultTo(no))
        .execute();
      await db.schema
        .createIndex("usage_logs_pending_rollup")
        .ifNotExists()
        .on("usage_logs")
        .column("timestamp")
        .where(sql.ref("rolled_up"), "=", no)
        .execute();
      await db.schema
        .createTable("usage_rollups")
        .ifNotExists()
        .addColumn("key_id", "varchar(36)", (c) => c.notNull().references("api_keys.id"))
        .addColumn("hour", timestamp, (c) => c.notNull())
        .addColumn("status_class", "integer", (c) => c.notNull())
        .addColumn("request_count", "bigint", (c) => c.notNull())
        .addColumn("charged_count", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("usage_rollups_pk", ["key_id", "hour", "status_class"])
        .execute();
      await db.schema
        .createIndex("usage_rollups_hour")
        .ifNotExists()
        .on("usage_rollups")
        .column("hour")
        .execute();
    },
  };
}
