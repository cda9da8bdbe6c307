import { useState } from "preact/hooks";
import { ProblemBanner } from "../components/problem-banner.js";
import { formatLimit, parseLimits } from "../format.js";
import type { ApiKeyWire, LimitWire } from "../wire.js";

/** What the key form edits, in the admin API's field names. */
export interface KeySettings {
  label: string;
  rate_limit_per_minute: number;
  monthly_limit: number | null;
  limits: LimitWire[];
  scopes: string[];
  expires_at: string | null;
}

/**
 * The settings of a key, for creation and for editing: label, per-minute limit, monthly
 * quota, named windows (typed as the CLI takes them), scopes and expiry. Checks what it
 * can before sending; the API has the last word (its problem is shown).
 */
export function KeyForm(props: {
  readonly initial?: ApiKeyWire;
  readonly submitLabel: string;
  readonly onSubmit: (settings: KeySettings) => Promise<void>;
  readonly idPrefix: string;
}) {
  const key = props.initial;
  const [label, setLabel] = useState(key?.label ?? "");
  const [perMinute, setPerMinute] = useState(String(key?.rate_limit_per_minute ?? 60));
  const [monthly, setMonthly] = useState(
    key?.monthly_limit == null ? "" : String(key.monthly_limit),
  );
  const [limits, setLimits] = useState((key?.limits ?? []).map(formatLimit).join(" "));
  const [scopes, setScopes] = useState((key?.scopes ?? []).join(" "));
  const [expires, setExpires] = useState(key?.expires_at?.slice(0, 16) ?? "");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const id = (name: string) => `${props.idPrefix}-${name}`;
  return (
    <form
      class="key-form"
      onSubmit={async (event) => {
        event.preventDefault();
        setError(undefined);
        let settings: KeySettings;
        try {
          settings = {
            label: label.trim(),
            rate_limit_per_minute: wholeNumber(perMinute, "Requests per minute"),
            monthly_limit: monthly.trim() === "" ? null : wholeNumber(monthly, "Monthly quota"),
            limits: parseLimits(limits),
            scopes: scopes.split(/[\s,]+/).filter((scope) => scope !== ""),
            expires_at: expires === "" ? null : new Date(`${expires}:00Z`).toISOString(),
          };
        } catch (cause) {
          setError(cause);
          return;
        }
        setBusy(true);
        try {
          await props.onSubmit(settings);
        } catch (cause) {
          setError(cause);
        } finally {
          setBusy(false);
        }
      }}
    >
      <label for={id("label")}>Label</label>
      <input
        id={id("label")}
        required
        maxLength={200}
        value={label}
        onInput={(e) => setLabel(e.currentTarget.value)}
      />
      <label for={id("per-minute")}>Requests per minute</label>
      <input
        id={id("per-minute")}
        inputMode="numeric"
        required
        value={perMinute}
        onInput={(e) => setPerMinute(e.currentTarget.value)}
      />
      <label for={id("monthly")}>Monthly quota (empty: none)</label>
      <input
        id={id("monthly")}
        inputMode="numeric"
        value={monthly}
        onInput={(e) => setMonthly(e.currentTarget.value)}
      />
      <label for={id("limits")}>
        More windows (NAME=LIMIT/WINDOW, e.g. burst=10/1s day=10000/1d)
      </label>
      <input id={id("limits")} value={limits} onInput={(e) => setLimits(e.currentTarget.value)} />
      <label for={id("scopes")}>Scopes (separated by spaces)</label>
      <input id={id("scopes")} value={scopes} onInput={(e) => setScopes(e.currentTarget.value)} />
      <label for={id("expires")}>Expires (UTC; empty: never)</label>
      <input
        id={id("expires")}
        type="datetime-local"
        value={expires}
        onInput={(e) => setExpires(e.currentTarget.value)}
      />
      <ProblemBanner error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {props.submitLabel}
      </button>
    </form>
  );
}

function wholeNumber(text: string, what: string): number {
  const trimmed = text.trim();
  if (!/^\d{1,15}$/.test(trimmed)) throw new Error(`${what} must be a whole number.`);
  return Number(trimmed);
}
