import type { EventAction, EventTargetType } from "./event-actions.js";
import type { EventActor } from "./event-actor.js";

/** A field's value in an event: what the admin API shows for it (times as ISO text). */
export type EventValue = string | number | boolean | null | readonly string[];

/**
 * The fields a change changed, as they were and as they are, by their admin API (wire)
 * names: `{ before: { label: "old" }, after: { label: "new" } }`. A creation has an empty
 * `before`. Never holds a raw key, a key hash or a secret (see `event-changes.ts`).
 */
export interface EventChanges {
  readonly before: Readonly<Record<string, EventValue>>;
  readonly after: Readonly<Record<string, EventValue>>;
}

/**
 * One change, as the event stream carries it and the audit log keeps it: written in the
 * same transaction as the change, never updated afterwards.
 *
 * @example
 * ```ts
 * {
 *   id: "0192f5c4-...", // UUIDv7: ids sort in the order events happened
 *   at: new Date("2026-03-01T12:00:00Z"),
 *   actor: { type: "admin_api", name: "203.0.113.7" },
 *   action: "key.revoked",
 *   targetType: "key",
 *   targetId: "5b0c...",
 *   changes: { before: { is_active: true }, after: { is_active: false } },
 * }
 * ```
 */
export interface KeyGuardEvent {
  /** Time-ordered (UUIDv7 of `at`): listing by id lists in time order. */
  readonly id: string;
  readonly at: Date;
  readonly actor: EventActor;
  readonly action: EventAction;
  readonly targetType: EventTargetType;
  /** A key's or organization's id; a client's address for `ip` targets. */
  readonly targetId: string;
  readonly changes: EventChanges;
}
