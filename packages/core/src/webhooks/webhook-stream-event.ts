import type { KeyGuardEvent } from "../events/keyguard-event.js";
import type { WebhookEventRecord } from "../ports/webhook-store.js";
import { webhookEvent } from "./webhook-event-body.js";

/**
 * A change from the event stream as a webhook event: same id (receivers can match it
 * to the audit log), its action as the type, and what the audit log shows as data.
 */
export function webhookEventOf(event: KeyGuardEvent): WebhookEventRecord {
  const record = webhookEvent({
    id: event.id,
    type: event.action,
    createdAt: event.at,
    data: {
      actor: { type: event.actor.type, name: event.actor.name },
      target: { type: event.targetType, id: event.targetId },
      changes: event.changes,
    },
  });
  // Other endpoints hear of a new endpoint; the new one is not told of itself.
  return event.action === "webhook.created"
    ? { ...record, exceptEndpointId: event.targetId }
    : record;
}
