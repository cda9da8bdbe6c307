import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Blocks KeyGuard makes by itself (failed authentications past the threshold, lockouts)
 * are stored beside manual ones, so a restart does not lift them: `automatic` tells them
 * apart (a manual block's reason is free text, and may read "lockout"). Existing rows
 * were all manual.
 */
export function automaticBlocks(dialect: SqlDialect): Migration {
  const boolean = dialect === "postgres" ? "boolean" : "integer";
  const no = dialect === "postgres" ? sql`false` : sql`0`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("ip_blocks")
        .addColumn("automatic", boolean, (c) => c.notNull().defaultTo(no))
        .execute();
    },
  };
}
