import type { WebhookDelivery } from "../ports/webhook-store.js";
import type { WebhookEndpoint } from "./webhooks.js";

/** An endpoint on the wire (admin API, CLI `--json`): never its secret. */
export interface WebhookEndpointWire {
  id: string;
  url: string;
  events: string[];
  created_at: string;
}

export interface WebhookAttemptWire {
  attempt: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
}

export interface WebhookDeliveryWire {
  id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "delivered" | "failed";
  attempts: WebhookAttemptWire[];
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

export function toWebhookEndpointWire(endpoint: WebhookEndpoint): WebhookEndpointWire {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: [...endpoint.events],
    created_at: endpoint.createdAt.toISOString(),
  };
}

export function toWebhookDeliveryWire(delivery: WebhookDelivery): WebhookDeliveryWire {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts.map((attempt) => ({
      attempt: attempt.attempt,
      started_at: attempt.startedAt.toISOString(),
      duration_ms: attempt.durationMs,
      status_code: attempt.statusCode,
      error: attempt.error,
    })),
    created_at: delivery.createdAt.toISOString(),
    next_attempt_at: delivery.nextAttemptAt?.toISOString() ?? null,
    delivered_at: delivery.deliveredAt?.toISOString() ?? null,
  };
}
