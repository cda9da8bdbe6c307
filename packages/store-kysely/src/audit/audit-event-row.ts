import type { EventActorType, EventChanges, EventTargetType, KeyGuardEvent } from "@keyguard/core";
import { EVENT_ACTIONS, isEventAction } from "@keyguard/core/internal";
import type { Insertable, Selectable } from "kysely";
import type { ColumnCodec } from "../column-codec.js";
import type { AuditEventsTable } from "../database-schema.js";

/** An event as its `audit_events` row. */
export function auditEventRow(
  event: KeyGuardEvent,
  codec: ColumnCodec,
): Insertable<AuditEventsTable> {
  return {
    id: event.id,
    at: codec.date(event.at),
    actor_type: event.actor.type,
    actor_name: event.actor.name,
    action: event.action,
    target_type: event.targetType,
    target_id: event.targetId,
    changes: codec.json(event.changes),
  };
}

/**
 * A row as an event. A row whose action this version does not know (written by a newer
 * one) keeps its text: it is history, and an older reader shows it as it is.
 */
export function toAuditEvent(row: Selectable<AuditEventsTable>, codec: ColumnCodec): KeyGuardEvent {
  const action = row.action as KeyGuardEvent["action"];
  return {
    id: row.id,
    at: codec.readDate(row.at),
    actor: { type: row.actor_type as EventActorType, name: row.actor_name },
    action,
    targetType: (isEventAction(action)
      ? EVENT_ACTIONS[action]
      : row.target_type) as EventTargetType,
    targetId: row.target_id,
    changes: codec.readJson(row.changes) as EventChanges,
  };
}
