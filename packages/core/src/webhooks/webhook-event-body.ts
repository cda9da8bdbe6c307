import type { WebhookEventRecord, WebhookNotice } from "../ports/webhook-store.js";

/**
 * An event as the outbox holds it: the body every attempt sends (and signs) byte for
 * byte, `{ id, type, created_at, data }`.
 */
export function webhookEvent(event: {
  readonly id: string;
  readonly type: string;
  readonly createdAt: Date;
  readonly data: Record<string, unknown>;
  readonly notice?: WebhookNotice;
}): WebhookEventRecord {
  const body = JSON.stringify({
    id: event.id,
    type: event.type,
    created_at: event.createdAt.toISOString(),
    data: event.data,
  });
  return {
    id: event.id,
    type: event.type,
    createdAt: event.createdAt,
    body,
    ...(event.notice === undefined ? {} : { notice: event.notice }),
  };
}
