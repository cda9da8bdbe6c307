import type { Kysely, Migration } from "kysely";

/**
 * Listings are read a page at a time in their order (creation time, then id or name), each
 * page continuing after the last row read: these indexes let a page start where the last
 * one ended instead of sorting the whole table for every page.
 */
export function listingIndexes(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex("api_keys_listing")
        .ifNotExists()
        .on("api_keys")
        .columns(["created_at", "id"])
        .execute();
      await db.schema
        .createIndex("organizations_listing")
        .ifNotExists()
        .on("organizations")
        .columns(["created_at", "name"])
        .execute();
    },
  };
}
