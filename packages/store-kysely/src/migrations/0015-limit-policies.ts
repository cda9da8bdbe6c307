import type { Kysely, Migration } from "kysely";

/**
 * Named windows (`limits`) on keys and on organizations: JSON text, `[{ name, limit,
 * windowSeconds, algorithm?, mode? }]`, null for none. Old rows keep working unchanged:
 * their `rate_limit_per_minute` and `monthly_limit` remain the policies `minute` and `month`.
 */
export function limitPolicies(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("api_keys").addColumn("limits", "text").execute();
      await db.schema.alterTable("organizations").addColumn("limits", "text").execute();
    },
  };
}
