import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * The fingerprints (HMAC of a constant, never the secret) of the secrets the database's
 * keys are hashed with: one `current`, and the `retired` ones a rotation left behind. A
 * partial unique index keeps one current row even when two processes adopt at once.
 * Filled by KeyGuard (`init` with a secret), not here: a migration does not know it.
 */
export function secretFingerprint(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("secret_fingerprints")
        .ifNotExists()
        .addColumn("fingerprint", "varchar(64)", (c) => c.primaryKey())
        .addColumn("role", "varchar(8)", (c) => c.notNull())
        .addColumn("since", timestamp, (c) => c.notNull())
        .addColumn("retired_at", timestamp)
        .execute();
      await sql`create unique index if not exists secret_fingerprints_one_current
        on secret_fingerprints (role) where role = 'current'`.execute(db);
    },
  };
}
