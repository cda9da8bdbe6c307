import { KeyGuardError } from "@keyguard/core";
import type { ListPage } from "@keyguard/core/internal";

const DEFAULT_LIMIT = 50;
const MAX_CURSOR_LENGTH = 200;

/**
 * What the store reads for one page: the page's size plus one, after the item the cursor
 * names. The cursor is the id of the last item sent, encoded so clients treat it as
 * opaque; the store continues after it (keyset pagination), so a page costs one indexed
 * query however long the listing is.
 */
export function pageQuery(page: {
  limit?: number;
  cursor?: string;
}): ListPage & { readonly limit: number } {
  const limit = (page.limit ?? DEFAULT_LIMIT) + 1;
  if (page.cursor === undefined) return { limit };
  // The cursors handed out encode an id (36 characters): anything much longer is not one.
  if (page.cursor.length > MAX_CURSOR_LENGTH) {
    throw new KeyGuardError("invalid_input", "cursor is not one this listing handed out");
  }
  const afterId = Buffer.from(page.cursor, "base64url").toString("utf8");
  // Ids are UUIDs: a cursor naming anything else (NUL, which PostgreSQL text cannot hold,
  // or other text) is refused without reaching the store.
  if (
    !/^[0-9A-Za-z_-]{1,100}$/.test(afterId) ||
    Buffer.from(afterId, "utf8").toString("base64url") !== page.cursor
  ) {
    throw new KeyGuardError("invalid_input", "cursor is not one this listing handed out");
  }
  return { limit, afterId };
}

/** One page from what `pageQuery` read: the extra item only tells that more follow. */
export function toPage<T extends { readonly id: string }, W>(
  read: readonly T[],
  query: { readonly limit: number },
  toWire: (item: T) => W,
): { items: W[]; next_cursor: string | null } {
  const size = query.limit - 1;
  const items = read.slice(0, size);
  const last = items.at(-1);
  return {
    items: items.map(toWire),
    next_cursor:
      read.length > size && last !== undefined
        ? Buffer.from(last.id, "utf8").toString("base64url")
        : null,
  };
}
