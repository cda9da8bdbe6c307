import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Whether a usage row's requests were charged to the key's monthly quota (let through by
 * KeyGuard), which is what a restarted process seeds the quota from. Refusals of a valid
 * key (rate limit, quota, IP block) are recorded too but are not charged. Rows written
 * before this column existed keep the rule they were counted by then: every status but 429.
 */
export function usageCharged(dialect: SqlDialect): Migration {
  const boolean = dialect === "postgres" ? "boolean" : "integer";
  const yes = dialect === "postgres" ? sql`true` : sql`1`;
  const no = dialect === "postgres" ? sql`false` : sql`0`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("usage_logs")
        .addColumn("charged", boolean, (c) => c.notNull().defaultTo(yes))
        .execute();
      await sql`update usage_logs set charged = ${no} where status_code = 429`.execute(db);
    },
  };
}
