/**
 * What an event is about: the kind of thing its `targetId` names. `ip` is a client's
 * address (blocks are kept per client); `ip_rule` is a stored allow / deny rule, named by
 * its id (what `remove-ip-rule` takes), since a CIDR is a range, not a client.
 */
export const EVENT_TARGET_TYPES = ["organization", "key", "ip", "ip_rule", "webhook"] as const;

export type EventTargetType = (typeof EVENT_TARGET_TYPES)[number];

/**
 * Every action the event stream knows, with the kind of target it names. Adding an
 * action is one line here; the store, the admin API's filter and its OpenAPI enum, and
 * the CLI's `--action` all read this table.
 */
export const EVENT_ACTIONS = {
  "organization.created": "organization",
  "organization.suspended": "organization",
  "organization.activated": "organization",
  "organization.updated": "organization",
  "key.created": "key",
  "key.updated": "key",
  "key.revoked": "key",
  "key.rotated": "key",
  "key.credits_added": "key",
  "ip_block.created": "ip",
  "ip_block.lifted": "ip",
  "ip.auto_blocked": "ip",
  "ip_rule.created": "ip_rule",
  "ip_rule.removed": "ip_rule",
  "webhook.created": "webhook",
  "webhook.removed": "webhook",
} as const satisfies Record<string, EventTargetType>;

export type EventAction = keyof typeof EVENT_ACTIONS;

/** The actions, in table order (for enums and messages). */
export const EVENT_ACTION_NAMES = Object.keys(EVENT_ACTIONS) as readonly EventAction[];

export function isEventAction(value: unknown): value is EventAction {
  return typeof value === "string" && Object.hasOwn(EVENT_ACTIONS, value);
}
