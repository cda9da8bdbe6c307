import type { Kysely, Migration } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/** Manual IP blocks, so they survive restarts and reach every process. */
export function ipBlocks(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("ip_blocks")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("client", "varchar(64)", (c) => c.notNull())
        .addColumn("scope", "varchar(8)", (c) => c.notNull())
        .addColumn("path", "text")
        .addColumn("reason", "varchar(200)", (c) => c.notNull())
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .addColumn("until", timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("ip_blocks_client")
        .ifNotExists()
        .on("ip_blocks")
        .column("client")
        .execute();
      await db.schema
        .createIndex("ip_blocks_until")
        .ifNotExists()
        .on("ip_blocks")
        .column("until")
        .execute();
    },
  };
}
