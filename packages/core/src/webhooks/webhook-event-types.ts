import { EVENT_ACTION_NAMES } from "../events/event-actions.js";

/**
 * The event types an endpoint can subscribe to: every action of the event stream (named
 * as the audit log names them: `EVENT_ACTIONS`, so an action added there is a webhook
 * event too), and the notices KeyGuard raises by itself. `*` subscribes to all of them,
 * including types added later.
 */
export const STREAM_EVENT_TYPES: readonly string[] = EVENT_ACTION_NAMES;

/**
 * Raised by KeyGuard, not by a change: a key about to expire, a monthly quota used up, a
 * key's credits running low.
 */
export const NOTICE_EVENT_TYPES = ["key.expiring", "quota.exceeded", "credits.low"] as const;

export const WEBHOOK_EVENT_TYPES: readonly string[] = [
  ...STREAM_EVENT_TYPES,
  ...NOTICE_EVENT_TYPES,
];

export type NoticeEventType = (typeof NOTICE_EVENT_TYPES)[number];

/** Whether an endpoint subscribed to `events` receives events of `type`. */
export function subscribesTo(events: readonly string[], type: string): boolean {
  return events.includes("*") || events.includes(type);
}
