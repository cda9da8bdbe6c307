import { useMemo, useState } from "preact/hooks";
import type { AdminClient, Page } from "../admin-client.js";
import { useClient } from "../client-context.js";
import { DataTable } from "../components/data-table.js";
import { ProblemBanner } from "../components/problem-banner.js";
import { StatCard } from "../components/stat-card.js";
import { UsageChart } from "../components/usage-chart.js";
import { formatCount, formatPercent, formatRelative } from "../format.js";
import { hrefOf } from "../route.js";
import { usageSeries, usageTotals } from "../usage-series.js";
import { useLoad } from "../use-load.js";
import type { AuditEventWire, StatsWire, UsageOverviewWire } from "../wire.js";

/** The stats as cards, and the latest changes. */
export function Overview() {
  const client = useClient();
  const stats = useLoad(() => client.get<StatsWire>("/stats"), []);
  const recent = useLoad(() => latestEvents(client, 10), []);
  const [hours, setHours] = useState(24);
  const usage = useLoad(
    () =>
      client.get<UsageOverviewWire>("/usage", {
        since: new Date(Date.now() - hours * 3_600_000).toISOString(),
      }),
    [hours],
  );
  const series = useMemo(
    () =>
      usage.data === undefined
        ? undefined
        : usageSeries(usage.data.hours, Date.parse(usage.data.since), Date.now()),
    [usage.data],
  );
  const totals = series === undefined ? undefined : usageTotals(series);
  const s = stats.data;
  const now = Date.now();
  return (
    <section>
      <h2>Overview</h2>
      <ProblemBanner error={stats.error} />
      {s === undefined ? null : (
        <div class="cards">
          <StatCard label="Organizations" value={formatCount(s.organizations)} />
          <StatCard
            label="Active keys"
            value={`${formatCount(s.active_keys)} of ${formatCount(s.total_keys)}`}
          />
          <StatCard
            label="Requests"
            value={formatCount(s.total_requests)}
            testid="total-requests"
          />
          <StatCard label="Last hour" value={formatCount(s.requests_last_hour)} />
          <StatCard label="Error rate" value={formatPercent(s.error_rate)} />
          <StatCard label="Shadow refusals" value={formatCount(s.shadow_refusals)} />
        </div>
      )}
      <h3>Requests</h3>
      <div class="filters">
        <label for="overview-range">Range</label>
        <select
          id="overview-range"
          value={String(hours)}
          onChange={(e) => setHours(Number(e.currentTarget.value))}
        >
          <option value="24">last 24 hours</option>
          <option value="168">last 7 days</option>
        </select>
        <button type="button" onClick={usage.reload}>
          Refresh
        </button>
      </div>
      <ProblemBanner error={usage.error} />
      {totals === undefined || series === undefined ? null : (
        <>
          <div class="cards">
            <StatCard label="Requests" value={formatCount(totals.total)} testid="overview-total" />
            <StatCard label="2xx" value={formatCount(totals.ok)} />
            <StatCard
              label="Refused by limits (429)"
              value={formatCount(totals.limited)}
              testid="overview-429"
            />
            <StatCard label="4xx" value={formatCount(totals.clientErrors)} />
            <StatCard label="5xx" value={formatCount(totals.serverErrors)} />
          </div>
          <UsageChart series={series} title="Requests per hour, all keys" />
        </>
      )}
      <h3>Busiest keys</h3>
      <DataTable columns={["Key", "Prefix", "Organization", "Requests"]}>
        {(usage.data?.top_keys ?? []).map((key) => (
          <tr key={key.key_id}>
            <td>
              <a href={hrefOf({ screen: "key", id: key.key_id })}>{key.label}</a>
            </td>
            <td>
              <code>{key.prefix}</code>
            </td>
            <td>{key.org_name}</td>
            <td data-testid="top-key-requests">{formatCount(key.requests)}</td>
          </tr>
        ))}
      </DataTable>
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
