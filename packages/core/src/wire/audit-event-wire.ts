import type { EventAction, EventTargetType } from "../events/event-actions.js";
import type { EventActorType } from "../events/event-actor.js";
import type { EventValue, KeyGuardEvent } from "../events/keyguard-event.js";

/** A changed field's value on the wire. */
export type AuditValueWire = string | number | boolean | null | string[];

/**
 * An audit event as the admin API sends it and `keyguard audit --json` prints it: the
 * other wire formats' snake_case names and ISO 8601 times.
 *
 * @example
 * toAuditEventWire(event);
 * // {"id":"0192...","at":"2026-03-01T12:00:00.000Z","actor":{"type":"cli","name":"ops"},
 * //  "action":"key.revoked","target_type":"key","target_id":"5b0c...",
 * //  "changes":{"before":{"is_active":true},"after":{"is_active":false}}}
 */
export interface AuditEventWire {
  readonly id: string;
  readonly at: string;
  readonly actor: { readonly type: EventActorType; readonly name: string | null };
  readonly action: EventAction;
  readonly target_type: EventTargetType;
  readonly target_id: string;
  readonly changes: {
    readonly before: Record<string, AuditValueWire>;
    readonly after: Record<string, AuditValueWire>;
  };
}

export function toAuditEventWire(event: KeyGuardEvent): AuditEventWire {
  return {
    id: event.id,
    at: event.at.toISOString(),
    actor: { type: event.actor.type, name: event.actor.name },
    action: event.action,
    target_type: event.targetType,
    target_id: event.targetId,
    changes: { before: fieldsWire(event.changes.before), after: fieldsWire(event.changes.after) },
  };
}

function fieldsWire(fields: Readonly<Record<string, EventValue>>): Record<string, AuditValueWire> {
  const wire: Record<string, AuditValueWire> = {};
  for (const [name, value] of Object.entries(fields)) {
    wire[name] = Array.isArray(value)
      ? [...value]
      : (value as Exclude<EventValue, readonly string[]>);
  }
  return wire;
}
