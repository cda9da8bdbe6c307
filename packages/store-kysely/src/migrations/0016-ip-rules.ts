import type { Kysely, Migration } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * IP allow / deny rules (`ip_rules`: one rule per canonical CIDR, so two processes adding
 * the same range agree on one row), and keys' `allowed_ips` (a JSON array of canonical
 * CIDRs; null: the key may be used from anywhere, as every key before this migration).
 */
export function ipRules(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  const json = dialect === "postgres" ? "jsonb" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("ip_rules")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        // An IPv6 CIDR in canonical form is at most 43 characters.
        .addColumn("cidr", "varchar(64)", (c) => c.notNull().unique())
        .addColumn("action", "varchar(8)", (c) => c.notNull())
        .addColumn("reason", "varchar(200)")
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .execute();
      await db.schema.alterTable("api_keys").addColumn("allowed_ips", json).execute();
    },
  };
}
