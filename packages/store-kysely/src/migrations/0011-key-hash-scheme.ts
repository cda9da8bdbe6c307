import type { Kysely, Migration } from "kysely";

/**
 * How each key's hash was computed: KeyGuard's HMAC for every key so far, another
 * system's hash for keys imported from it (keyguard-python, plain SHA-256) until their
 * first use re-stores them under the HMAC. See `KeyHashScheme` in core.
 */
export function keyHashScheme(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("api_keys")
        .addColumn("key_hash_scheme", "varchar(32)", (c) => c.notNull().defaultTo("hmac-sha256"))
        .execute();
    },
  };
}
