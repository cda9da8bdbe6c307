/**
 * Which part of a listing to read: listings are oldest first, and a page continues after
 * the item whose id was last read (keyset pagination: no offset to skip, and items added
 * or removed meanwhile neither repeat nor shift the rest). An `afterId` naming nothing
 * throws `KeyGuardError("invalid_input")`.
 */
export interface ListPage {
  readonly afterId?: string;
  /** At most this many items (default: all). */
  readonly limit?: number;
}
