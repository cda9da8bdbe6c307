import type { IpBlock } from "./limiter.js";

/**
 * Something changed that other processes may hold in memory. Notices carry identifiers,
 * never secrets: a key is named by its hash, which is what caches are keyed by.
 */
export type KeyGuardChange =
  /** A key was revoked, updated or rotated: forget its cached verification. */
  | { readonly kind: "api-key"; readonly keyHash: string }
  /** An organization was suspended or reactivated: forget its keys' cached verifications. */
  | { readonly kind: "organization"; readonly id: string }
  /**
   * A client was blocked (`block` set) or unblocked (no `block`); `stored` when the change
   * was to the database's manual blocks, which other processes then re-read.
   */
  | {
      readonly kind: "ip-blocks";
      readonly client: string;
      readonly block?: IpBlock;
      readonly stored?: boolean;
    }
  /**
   * The stored IP allow / deny rules changed: the rule `added` or the id `removed` (applied
   * at once), and the rules are then re-read to be sure.
   */
  | {
      readonly kind: "ip-rules";
      readonly added?: { readonly id: string; readonly cidr: string; readonly action: string };
      readonly removed?: string;
    }
  /** Notices may have been missed (the feed reconnected): drop everything cached. */
  | { readonly kind: "resync" };

/**
 * Tells every process of a deployment about changes, so a key revoked in one process (or
 * from the CLI) is refused by all of them at once instead of when their caches expire.
 * `@keyguard/limiter-redis` provides one over Redis pub/sub, and `@keyguard/store-kysely`
 * one over the database itself (PostgreSQL LISTEN/NOTIFY, a change log polled on SQLite;
 * see `Store.openChangeFeed`); without any, other processes catch up within the
 * verification cache's TTL.
 */
export interface ChangeFeed {
  /** Resolves once the notice is handed to the broker; rejects if it could not be. */
  publish(change: KeyGuardChange): Promise<void>;
  /** Calls `listener` for every notice, from any process, this one included. */
  subscribe(listener: (change: KeyGuardChange) => void): () => void;
  close(): Promise<void>;
}
