import type { EventValue, KeyGuardEvent } from "@keyguard/core";
import { formatDateTime } from "./format.js";
import { plainTable } from "./plain-table.js";

/** `admin_api 203.0.113.7`, `cli ops`, `code billing-job`, `code`. */
export function actorText(event: KeyGuardEvent): string {
  return event.actor.name === null ? event.actor.type : `${event.actor.type} ${event.actor.name}`;
}

function valueText(value: EventValue | undefined): string {
  if (value === undefined || value === null) return "-";
  if (Array.isArray(value)) return value.length === 0 ? "[]" : value.join(",");
  return String(value);
}

/** `label: prod -> prod-2, monthly_limit: - -> 9`; a creation lists what it set. */
export function changesText(event: KeyGuardEvent): string {
  const { before, after } = event.changes;
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (Object.keys(before).length === 0) {
    return names.map((name) => `${name}=${valueText(after[name])}`).join(", ");
  }
  if (Object.keys(after).length === 0) {
    return names.map((name) => `${name}=${valueText(before[name])}`).join(", ");
  }
  return names
    .map((name) => `${name}: ${valueText(before[name])} -> ${valueText(after[name])}`)
    .join(", ");
}

/** keyguard-python's borderless table, one event a row, oldest first; then the total. */
export function renderAuditTable(events: readonly KeyGuardEvent[]): string {
  const table = plainTable(
    ["Time (UTC)", "Actor", "Action", "Target", "Changes"],
    [17, 24, 22, 38, 60],
    events.map((event) => [
      formatDateTime(event.at),
      actorText(event),
      event.action,
      event.targetId,
      changesText(event),
    ]),
  );
  return `\n${table}\n\nTotal: ${events.length} event(s)\n`;
}
