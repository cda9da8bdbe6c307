import { useState } from "preact/hooks";
import type { Page } from "../admin-client.js";
import { useClient } from "../client-context.js";
import { DataTable } from "../components/data-table.js";
import { ProblemBanner } from "../components/problem-banner.js";
import { formatTime } from "../format.js";
import { usePages } from "../use-pages.js";
import type { AuditEventWire, EventValue } from "../wire.js";

/** The audit log, oldest first, filtered by action and target. */
export function Audit(props: { readonly target?: string }) {
  const client = useClient();
  const [action, setAction] = useState("");
  const [target, setTarget] = useState(props.target ?? "");
  const pages = usePages(
    (cursor) =>
      client.get<Page<AuditEventWire>>("/audit", {
        limit: 100,
        cursor,
        action: action || undefined,
        target_id: target || undefined,
      }),
    [action, target],
  );
  return (
    <section>
      <h2>Audit log</h2>
      <div class="filters">
        <label for="audit-action">Actions (comma-separated)</label>
        <input
          id="audit-action"
          placeholder="key.revoked,key.rotated"
          value={action}
          onChange={(e) => setAction(e.currentTarget.value.trim())}
        />
        <label for="audit-target">Target id or address</label>
        <input
          id="audit-target"
          value={target}
          onChange={(e) => setTarget(e.currentTarget.value.trim())}
        />
      </div>
      <ProblemBanner error={pages.error} />
      <DataTable columns={["When", "Action", "Target", "By", "Changes"]}>
        {pages.items.map((event) => (
          <tr key={event.id}>
            <td>{formatTime(event.at)}</td>
            <td>{event.action}</td>
            <td>
              {event.target_type} <code>{event.target_id}</code>
            </td>
            <td>
              {event.actor.type}
              {event.actor.name === null ? "" : ` (${event.actor.name})`}
            </td>
            <td class="changes">{describeChanges(event)}</td>
          </tr>
        ))}
      </DataTable>
      {pages.more ? (
        <button type="button" onClick={pages.loadMore}>
          Load more
        </button>
      ) : null}
    </section>
  );
}

function describeChanges(event: AuditEventWire): string {
  const show = (value: EventValue | undefined) =>
    value === undefined ? "—" : Array.isArray(value) ? value.join(" ") : String(value);
  return Object.keys(event.changes.after)
    .map((field) => {
      const before = event.changes.before[field];
      const after = show(event.changes.after[field]);
      return before === undefined ? `${field}: ${after}` : `${field}: ${show(before)} → ${after}`;
    })
    .join("; ");
}
