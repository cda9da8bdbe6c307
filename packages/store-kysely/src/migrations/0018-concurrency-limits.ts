import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Concurrency caps (requests in flight at once) on keys and on organizations:
 * `concurrency` (a whole number, null for none) and `concurrency_mode` (`shadow`, or null
 * for `enforce`). Old rows have none.
 *
 * A change to them must reach every process's cache at once, like every cached column
 * (migration 0014). PostgreSQL's triggers compare whole rows (`to_jsonb`), so they cover
 * columns added later. SQLite's key trigger fires on any update that does not move
 * `last_used_at`, or that changes one of the columns it lists; an extra trigger here
 * covers the rest: an update that moves `last_used_at` and changes a limit column too
 * (SQL by hand, say). It is its own trigger, so it depends on no later or earlier
 * redefinition of 0014's.
 */
export function concurrencyLimits(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      for (const table of ["api_keys", "organizations"]) {
        await db.schema.alterTable(table).addColumn("concurrency", "integer").execute();
        await db.schema.alterTable(table).addColumn("concurrency_mode", "varchar(8)").execute();
      }
      if (dialect === "sqlite") {
        const changed = ["concurrency", "concurrency_mode", "limits", "allowed_ips"]
          .map((column) => `old.${column} is not new.${column}`)
          .join(" or ");
        await sql
          .raw(`create trigger keyguard_api_key_limits_changed after update on api_keys
             when old.last_used_at is not new.last_used_at and (${changed})
           begin
             insert into keyguard_changes (notice)
               values (json_object('kind', 'api-key', 'keyHash', old.key_hash));
           end`)
          .execute(db);
      }
    },
  };
}
