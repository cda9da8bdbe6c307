import { useMemo, useState } from "preact/hooks";
import { useClient } from "../client-context.js";
import { ConfirmButton } from "../components/confirm-button.js";
import { PolicyTable } from "../components/policy-table.js";
import { ProblemBanner } from "../components/problem-banner.js";
import { RawKeyNotice } from "../components/raw-key-notice.js";
import { StatCard } from "../components/stat-card.js";
import { UsageChart } from "../components/usage-chart.js";
import {
  formatCount,
  formatCredits,
  formatKeyLimits,
  formatRelative,
  formatTime,
} from "../format.js";
import { hrefOf } from "../route.js";
import { usageSeries, usageTotals } from "../usage-series.js";
import { useLoad } from "../use-load.js";
import type { ApiKeyDetailWire, CreatedApiKeyWire, UsageWire } from "../wire.js";
import { KeyForm } from "./key-form.js";

const HOUR_MS = 3_600_000;

/** One key: its settings, where its limits stand, usage by hour, edit, rotate, revoke. */
export function KeyDetail(props: { readonly id: string }) {
  const client = useClient();
  const path = `/keys/${props.id}`;
  const key = useLoad(() => client.get<ApiKeyDetailWire>(path), [path]);
  const [hours, setHours] = useState(24);
  const [refresh, setRefresh] = useState(0);
  const usage = useLoad(() => {
    const since = new Date(Date.now() - hours * HOUR_MS).toISOString();
    return client.get<UsageWire>(`${path}/usage`, { since });
  }, [path, hours, refresh]);
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [rotated, setRotated] = useState<CreatedApiKeyWire | undefined>(undefined);
  const [grace, setGrace] = useState("0");
  const [topUp, setTopUp] = useState("");
  const series = useMemo(
    () =>
      usage.data === undefined
        ? undefined
        : usageSeries(usage.data.hours, Date.parse(usage.data.since), Date.now()),
    [usage.data],
  );
  const k = key.data;
  if (k === undefined) {
    return (
      <section>
        <h2>Key</h2>
        <ProblemBanner error={key.error} />
      </section>
    );
  }
  const totals = series === undefined ? undefined : usageTotals(series);
  const act = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      key.reload();
    } catch (cause) {
      setError(cause);
    }
  };
  return (
    <section>
      <p>
        <a href={hrefOf({ screen: "keys" })}>All keys</a>
      </p>
      <h2>
        {k.label} <code>{k.prefix}</code>{" "}
        <span class={`status status-${k.status}`} data-testid="key-status">
          {k.status}
        </span>
      </h2>
      {rotated === undefined ? null : (
        <RawKeyNotice rawKey={rotated.raw_key} onDone={() => setRotated(undefined)} />
      )}
      <ProblemBanner error={error} />
      <dl class="settings">
        <dt>Organization</dt>
        <dd>{k.org_name}</dd>
        <dt>Limits</dt>
        <dd data-testid="key-limits">{formatKeyLimits(k)}</dd>
        <dt>Credits</dt>
        <dd data-testid="key-credits">{k.credits == null ? "none" : formatCredits(k.credits)}</dd>
        <dt>Scopes</dt>
        <dd>{k.scopes.length === 0 ? "none" : k.scopes.join(" ")}</dd>
        <dt>Allowed IPs</dt>
        <dd>{k.allowed_ips === null ? "anywhere" : k.allowed_ips.join(" ")}</dd>
        <dt>Created</dt>
        <dd>{formatTime(k.created_at)}</dd>
        <dt>Expires</dt>
        <dd>{k.expires_at === null ? "never" : formatTime(k.expires_at)}</dd>
        <dt>Last used</dt>
        <dd>{formatRelative(k.last_used_at, Date.now())}</dd>
      </dl>
      <h3>Limits now</h3>
      <p class="hint">
        What is left of each limit right now (reading it spends nothing). Windows are this server's
        live counts, shared by every server when they use Redis.
      </p>
      <PolicyTable policies={k.policies} now={Date.now()} />
      <button type="button" onClick={() => key.reload()}>
        Refresh limits
      </button>
      {k.status === "active" ? (
        <div class="actions">
          <button type="button" onClick={() => setEditing(!editing)}>
            {editing ? "Cancel" : "Edit"}
          </button>
          <span class="inline-form">
            <label for="grace">Grace period (seconds)</label>
            <input
              id="grace"
              inputMode="numeric"
              size={8}
              value={grace}
              onInput={(e) => setGrace(e.currentTarget.value)}
            />
            <ConfirmButton
              label="Rotate"
              question="Issue a new key and retire this one?"
              onConfirm={() =>
                act(async () => {
                  const seconds = Number(grace.trim() || "0");
                  const answer = await client.post<{ key: CreatedApiKeyWire }>(`${path}/rotate`, {
                    ...(seconds > 0 ? { grace_period_seconds: seconds } : {}),
                  });
                  setRotated(answer.key);
                })
              }
            />
          </span>
          <ConfirmButton
            label="Revoke"
            question="Revoke this key? Requests with it are refused at once."
            onConfirm={() => act(() => client.delete(path))}
          />
        </div>
      ) : null}
      {k.status === "active" && k.credits != null ? (
        <form
          class="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            const add = topUp.trim();
            void act(async () => {
              if (!/^\d{1,15}$/.test(add) || Number(add) < 1) {
                throw new Error("Credits to add must be a whole number from 1.");
              }
              await client.post(`${path}/credits`, { add: Number(add) });
              setTopUp("");
            });
          }}
        >
          <label for="top-up">Add credits</label>
          <input
            id="top-up"
            inputMode="numeric"
            size={10}
            value={topUp}
            onInput={(e) => setTopUp(e.currentTarget.value)}
          />
          <button type="submit">Add</button>
        </form>
      ) : null}
      {editing ? (
        <div class="panel">
          <KeyForm
            idPrefix="edit"
            initial={k}
            submitLabel="Save"
            onSubmit={async (settings) => {
              await client.patch(path, settings);
              setEditing(false);
              key.reload();
            }}
          />
        </div>
      ) : null}
      <h3>Usage</h3>
      <div class="filters">
        <label for="usage-range">Range</label>
        <select
          id="usage-range"
          value={String(hours)}
          onChange={(e) => setHours(Number(e.currentTarget.value))}
        >
          <option value="24">last 24 hours</option>
          <option value="168">last 7 days</option>
        </select>
        <button
          type="button"
          onClick={() => {
            setRefresh((n) => n + 1);
            key.reload();
          }}
        >
          Refresh
        </button>
      </div>
      <ProblemBanner error={usage.error} />
      {totals === undefined || series === undefined ? null : (
        <>
          <div class="cards">
            <StatCard label="Requests" value={formatCount(totals.total)} testid="usage-total" />
            <StatCard label="2xx" value={formatCount(totals.ok)} />
            <StatCard label="4xx" value={formatCount(totals.clientErrors)} />
            <StatCard label="5xx" value={formatCount(totals.serverErrors)} />
          </div>
          <UsageChart series={series} title={`Requests per hour, ${k.label}`} />
        </>
      )}
      <p>
        <a href={hrefOf({ screen: "audit", target: k.id })}>Changes to this key</a>
      </p>
    </section>
  );
}
