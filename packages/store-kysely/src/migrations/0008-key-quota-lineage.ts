import { type Kysely, type Migration, sql } from "kysely";

/**
 * Rotation lineages. `quota_id` is the id of the monthly quota a key spends: its own id for
 * a key made by `createApiKey`, its predecessor's `quota_id` for a key made by rotation, so
 * every key of one lineage (the original and each successor) spends one quota and a
 * rotation never hands out a fresh month. `replaced_by` is the id of a key's successor once
 * it has been rotated: the database's record that a key was rotated, which the conditional
 * update of a rotation tests, so two rotations of one key cannot both succeed.
 *
 * Keys that existed before have no recorded lineage: each spends its own quota. Both
 * columns are nullable so SQLite can add them in place; the store reads a null `quota_id`
 * as the key's own id.
 */
export function keyQuotaLineage(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("api_keys").addColumn("quota_id", "text").execute();
      await db.schema.alterTable("api_keys").addColumn("replaced_by", "text").execute();
      await sql`update api_keys set quota_id = id where quota_id is null`.execute(db);
      // The quota seed looks a lineage up by its quota id.
      await db.schema
        .createIndex("api_keys_quota")
        .ifNotExists()
        .on("api_keys")
        .column("quota_id")
        .execute();
    },
  };
}
