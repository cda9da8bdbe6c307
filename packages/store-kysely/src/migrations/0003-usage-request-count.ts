import type { Kysely, Migration } from "kysely";

/**
 * A usage row may stand for several requests (same key, method, path, status, client and
 * second, aggregated in memory before writing): `request_count` says how many, and
 * `latency_ms` is their mean. Existing rows are one request each.
 */
export function usageRequestCount(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("usage_logs")
        .addColumn("request_count", "integer", (c) => c.notNull().defaultTo(1))
        .execute();
    },
  };
}
