import type { AdminClient, Page } from "../admin-client.js";
import { useClient } from "../client-context.js";
import { ProblemBanner } from "../components/problem-banner.js";
import { formatCount, formatPercent, formatRelative } from "../format.js";
import { hrefOf } from "../route.js";
import { useLoad } from "../use-load.js";
import type { AuditEventWire, StatsWire } from "../wire.js";

/** The stats as cards, and the latest changes. */
export function Overview() {
  const client = useClient();
  const stats = useLoad(() => client.get<StatsWire>("/stats"), []);
  const recent = useLoad(() => latestEvents(client, 10), []);
  const s = stats.data;
  const now = Date.now();
  return (
    <section>
      <h2>Overview</h2>
      <ProblemBanner error={stats.error} />
      {s === undefined ? null : (
        <div class="cards">
          <Card label="Organizations" value={formatCount(s.organizations)} />
          <Card
            label="Active keys"
            value={`${formatCount(s.active_keys)} of ${formatCount(s.total_keys)}`}
          />
          <Card label="Requests" value={formatCount(s.total_requests)} testid="total-requests" />
          <Card label="Last hour" value={formatCount(s.requests_last_hour)} />
          <Card label="Error rate" value={formatPercent(s.error_rate)} />
          <Card label="Shadow refusals" value={formatCount(s.shadow_refusals)} />
        </div>
      )}
      <h3>Latest changes</h3>
      <ProblemBanner error={recent.error} />
      <ul class="events">
        {(recent.data ?? []).map((event) => (
          <li key={event.id}>
            <span class="action">{event.action}</span> {event.target_type}{" "}
            <code>{event.target_id}</code> by {event.actor.type}
            {event.actor.name === null ? "" : ` (${event.actor.name})`},{" "}
            {formatRelative(event.at, now)}
          </li>
        ))}
      </ul>
      <a href={hrefOf({ screen: "audit" })}>The whole audit log</a>
    </section>
  );
}

function Card(props: { readonly label: string; readonly value: string; readonly testid?: string }) {
  return (
    <div class="card">
      <div class="card-label">{props.label}</div>
      <div class="card-value" data-testid={props.testid}>
        {props.value}
      </div>
    </div>
  );
}

/**
 * The newest `count` events of the last day, newest first. The log lists oldest first, so
 * this reads the day's pages (at most 10 of 200) and keeps the end.
 */
async function latestEvents(client: AdminClient, count: number): Promise<AuditEventWire[]> {
  const since = new Date(Date.now() - 86_400_000).toISOString();
  let kept: AuditEventWire[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const read = await client.get<Page<AuditEventWire>>("/audit", { since, limit: 200, cursor });
    kept = [...kept, ...read.items].slice(-count);
    if (read.next_cursor === null) break;
    cursor = read.next_cursor;
  }
  return kept.reverse();
}
