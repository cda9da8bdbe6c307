import { KeyGuardError } from "@keyguard/core";

const DEFAULT_LIMIT = 50;

/**
 * One page of a listing that is already in its final order (oldest first). The cursor is
 * the id of the last item sent, encoded so clients treat it as opaque; an item deleted in
 * between simply ends the listing early rather than repeating items.
 */
export function paginate<T extends { readonly id: string }, W>(
  items: readonly T[],
  page: { limit?: number; cursor?: string },
  toWire: (item: T) => W,
): { items: W[]; next_cursor: string | null } {
  const limit = page.limit ?? DEFAULT_LIMIT;
  let start = 0;
  if (page.cursor !== undefined) {
    const afterId = Buffer.from(page.cursor, "base64url").toString("utf8");
    const index = items.findIndex((item) => item.id === afterId);
    if (index === -1) {
      throw new KeyGuardError("invalid_input", "cursor is not one this listing handed out");
    }
    start = index + 1;
  }
  const slice = items.slice(start, start + limit);
  const last = slice.at(-1);
  const more = start + limit < items.length;
  return {
    items: slice.map(toWire),
    next_cursor:
      more && last !== undefined ? Buffer.from(last.id, "utf8").toString("base64url") : null,
  };
}
