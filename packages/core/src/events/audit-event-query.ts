import { KeyGuardError } from "../errors/keyguard-error.js";
import type { AuditEventFilter } from "../ports/audit-log.js";
import { hasControlCharacters } from "../validation/operation-inputs.js";
import { EVENT_ACTION_NAMES, type EventAction, isEventAction } from "./event-actions.js";

/** What `kg.listAuditEvents` takes: the store's filter, an action given alone or as a list. */
export interface AuditEventQuery extends Omit<AuditEventFilter, "actions"> {
  readonly action?: EventAction | readonly EventAction[];
}

/** Most events one read returns (a page; follow `afterId` for more). */
export const MAX_AUDIT_PAGE = 10_000;
const MAX_TEXT = 200;

/**
 * Checks a listing's filter before it reaches the store: known actions, bounded text
 * without control characters, valid times, a bounded page. Errors name the field.
 */
export function parseAuditEventQuery(query: AuditEventQuery): AuditEventFilter {
  const fail = (field: string, message: string) =>
    new KeyGuardError("invalid_input", `${field} ${message}`, { details: { field } });
  const text = (field: string, value: unknown) => {
    if (typeof value !== "string" || value === "" || value.length > MAX_TEXT) {
      throw fail(field, `must be 1 to ${MAX_TEXT} characters`);
    }
    if (hasControlCharacters(value)) throw fail(field, "must not contain control characters");
    return value;
  };
  const time = (field: string, value: unknown) => {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw fail(field, "must be a valid date");
    }
    return value;
  };
  const filter: { -readonly [K in keyof AuditEventFilter]: AuditEventFilter[K] } = {};
  if (query.action !== undefined) {
    const actions: readonly unknown[] = Array.isArray(query.action) ? query.action : [query.action];
    if (actions.length === 0 || actions.length > EVENT_ACTION_NAMES.length) {
      throw fail("action", `must name 1 to ${EVENT_ACTION_NAMES.length} actions`);
    }
    for (const action of actions) {
      if (!isEventAction(action)) {
        const shown = String(action).slice(0, 64);
        throw fail("action", `"${shown}" is not one of ${EVENT_ACTION_NAMES.join(", ")}`);
      }
    }
    filter.actions = [...new Set(actions as EventAction[])];
  }
  if (query.targetId !== undefined) filter.targetId = text("targetId", query.targetId);
  if (query.afterId !== undefined) filter.afterId = text("afterId", query.afterId);
  if (query.since !== undefined) filter.since = time("since", query.since);
  if (query.until !== undefined) filter.until = time("until", query.until);
  if (query.limit !== undefined) {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_AUDIT_PAGE) {
      throw fail("limit", `must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
    }
    filter.limit = query.limit;
  }
  return filter;
}
