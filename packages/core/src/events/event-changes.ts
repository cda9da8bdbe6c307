import type { ApiKey } from "../domain/api-key.js";
import type { StoredIpRule } from "../domain/ip-rule.js";
import { storedCreditsJson } from "../domain/key-credits.js";
import type { Organization } from "../domain/organization.js";
import type { ConcurrencySpec } from "../limits/limit-policy.js";
import type { IpBlock } from "../ports/limiter.js";
import { toLimitsWire } from "../wire/wire-format.js";
import type { EventChanges, EventValue } from "./keyguard-event.js";

type Fields = Readonly<Record<string, EventValue>>;

const isoOrNull = (date: Date | null) => (date === null ? null : date.toISOString());

/**
 * A key's audited fields, by their admin API names. Listed one by one, never copied from
 * the key: the hash (and of course the raw key) must not reach an event, and a field
 * added to `ApiKey` later is not audited until it is added here on purpose.
 */
export function keyFields(key: ApiKey): Fields {
  return {
    org_id: key.orgId,
    label: key.label,
    prefix: key.prefix,
    is_active: key.isActive,
    scopes: [...key.scopes],
    rate_limit_per_minute: key.rateLimitPerMinute,
    monthly_limit: key.monthlyLimit,
    expires_at: isoOrNull(key.expiresAt),
    replaced_by: key.replacedBy,
    allowed_ips:
      key.allowedIps === undefined || key.allowedIps === null ? null : [...key.allowedIps],
    ...concurrencyFields(key.concurrency),
    credits: creditsField(key),
  };
}

/**
 * A concurrency cap as audited: `concurrency` and, when shadow, its mode; nothing without
 * one (a change compares a missing field as null: removing a cap shows `concurrency: null`).
 */
function concurrencyFields(spec: ConcurrencySpec | null | undefined): Fields {
  if (spec === null || spec === undefined) return {};
  return spec.mode === "shadow"
    ? { concurrency: spec.limit, concurrency_mode: "shadow" }
    : { concurrency: spec.limit };
}

/** A key's credit grant as audited (what was spent is usage, not a change). */
function creditsField(key: ApiKey): EventValue {
  const credits = key.credits;
  if (credits === undefined || credits === null) return null;
  return storedCreditsJson(credits) as unknown as EventValue;
}

export function organizationFields(organization: Organization): Fields {
  return {
    name: organization.name,
    status: organization.status,
    limits: limitsField(organization.limits),
    ...concurrencyFields(organization.concurrency),
  };
}

export function blockFields(block: IpBlock): Fields {
  return {
    scope: block.scope,
    path: block.path ?? null,
    until: new Date(block.untilMs).toISOString(),
    reason: block.reason,
  };
}

export function ipRuleFields(rule: StoredIpRule): Fields {
  return { cidr: rule.cidr, action: rule.action, reason: rule.reason };
}

/** A webhook endpoint's audited fields: where events go and which (never its secret). */
export function webhookEndpointFields(endpoint: {
  url: string;
  events: readonly string[];
}): Fields {
  return { url: endpoint.url, events: [...endpoint.events] };
}

/** Something new: every field is "after". */
export function created(fields: Fields): EventChanges {
  return { before: {}, after: fields };
}

/** Something gone: every field is "before". */
export function removed(fields: Fields): EventChanges {
  return { before: fields, after: {} };
}

/** Only the fields whose values differ, as they were and as they are. */
export function changedFields(before: Fields, after: Fields): EventChanges {
  const was: Record<string, EventValue> = {};
  const is: Record<string, EventValue> = {};
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[name] ?? null;
    const b = after[name] ?? null;
    if (!sameValue(a, b)) {
      was[name] = a;
      is[name] = b;
    }
  }
  return { before: was, after: is };
}

export function hasChanges(changes: EventChanges): boolean {
  return Object.keys(changes.before).length + Object.keys(changes.after).length > 0;
}

function sameValue(a: EventValue, b: EventValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((value, index) => value === b[index]);
  }
  // Structured values (credits, limits) are plain JSON: equal when they print alike.
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  return a === b;
}

/** Named windows as the admin API spells them (`window_seconds`), as plain JSON values. */
function limitsField(limits: Parameters<typeof toLimitsWire>[0]): EventValue {
  return toLimitsWire(limits).map((limit) => ({ ...limit })) as unknown as EventValue;
}
