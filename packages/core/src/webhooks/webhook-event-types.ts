/**
 * The event types an endpoint can subscribe to: every change the event stream records
 * (named as the audit log names them), and the notices KeyGuard raises by itself.
 * `*` subscribes to all of them, including types added later.
 */
export const STREAM_EVENT_TYPES = [
  "organization.created",
  "organization.suspended",
  "organization.activated",
  "key.created",
  "key.updated",
  "key.revoked",
  "key.rotated",
  "ip_block.created",
  "ip_block.lifted",
  "ip.auto_blocked",
] as const;

/** Raised by KeyGuard, not by a change: a key about to expire, a monthly quota used up. */
export const NOTICE_EVENT_TYPES = ["key.expiring", "quota.exceeded"] as const;

export const WEBHOOK_EVENT_TYPES: readonly string[] = [...STREAM_EVENT_TYPES, ...NOTICE_EVENT_TYPES];

export type NoticeEventType = (typeof NOTICE_EVENT_TYPES)[number];

/** Whether an endpoint subscribed to `events` receives events of `type`. */
export function subscribesTo(events: readonly string[], type: string): boolean {
  return events.includes("*") || events.includes(type);
}
