import type { EventAction } from "../events/event-actions.js";
import type { KeyGuardEvent } from "../events/keyguard-event.js";

/**
 * Builds the event of a change from the change as the store's transaction saw it (the
 * rows before and after, read under the transaction's lock), or `undefined` when the
 * outcome is no change worth an event. A store calls it inside the transaction and
 * writes what it returns in that same transaction, so a change and its event are
 * committed, or rolled back, together.
 */
export type EventRecord<T> = (outcome: T) => KeyGuardEvent | undefined;

/** Which audit events to read: oldest (lowest id) first, a page at a time. */
export interface AuditEventFilter {
  /**
   * Only events after this id (a cursor: the last id read). Any id works, also one
   * deleted by retention since: ids are time-ordered, so "after" is well defined.
   */
  readonly afterId?: string;
  /** At most this many events (default: all). */
  readonly limit?: number;
  /** Only events of these actions. */
  readonly actions?: readonly EventAction[];
  /** Only events about this target (a key's or organization's id, a client's address). */
  readonly targetId?: string;
  /** Only events at or after this time. */
  readonly since?: Date;
  /** Only events before this time. */
  readonly until?: Date;
}

/**
 * The store-backed part of the event stream: the audit log. Events are appended by the
 * store's change methods (their `record` argument, see {@link EventRecord}) and are never
 * updated; only retention deletes them.
 *
 * A reader that follows the stream (a webhook dispatcher) reads `listAuditEvents({
 * afterId: cursor, limit })` and moves its cursor to the last id it got. Ids are taken
 * from the clock when the change is made, and transactions may commit out of that
 * order, so such a reader should re-read a short window behind its cursor (or stay a
 * few seconds behind the present) to see an event that committed late.
 */
export interface AuditLog {
  /** Events in id order (time order), filtered and paged in the database. */
  listAuditEvents(filter?: AuditEventFilter): Promise<KeyGuardEvent[]>;
  /**
   * Writes one event on its own, for a change that is not a row of the store (a block
   * only the limiter held). Changes the store makes get theirs through `record`.
   */
  appendAuditEvent(event: KeyGuardEvent): Promise<void>;
  /** Deletes up to `limit` events older than `before` (retention); the number deleted. */
  deleteAuditEventsBefore(before: Date, limit: number): Promise<number>;
}
