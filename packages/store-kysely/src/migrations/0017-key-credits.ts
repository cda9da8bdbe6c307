import type { Kysely, Migration } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Prepaid credits. On `api_keys`, the grant (null: no credits): `credits_granted` credits
 * for the balance period that began at `credits_epoch`, refilled to
 * `credits_refill_amount` at each `credits_refill_interval` boundary (`daily`, `monthly`;
 * both null: never). These are settings a process caches with the key, so changing them
 * fires the key's change notice (migration 0014's triggers: any update that does not move
 * `last_used_at`). What is spent lives in `credit_spending`, per rotation lineage and
 * period, added to by the usage batches: spending never rewrites a key row, so usage
 * writes cause no change notices.
 */
export function keyCredits(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("api_keys").addColumn("credits_granted", "bigint").execute();
      await db.schema.alterTable("api_keys").addColumn("credits_epoch", timestamp).execute();
      await db.schema.alterTable("api_keys").addColumn("credits_refill_amount", "bigint").execute();
      await db.schema
        .alterTable("api_keys")
        .addColumn("credits_refill_interval", "varchar(16)")
        .execute();
      await db.schema
        .createTable("credit_spending")
        .ifNotExists()
        .addColumn("quota_id", "varchar(36)", (c) => c.notNull())
        .addColumn("period_start", timestamp, (c) => c.notNull())
        .addColumn("spent", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("credit_spending_pk", ["quota_id", "period_start"])
        .execute();
    },
  };
}
