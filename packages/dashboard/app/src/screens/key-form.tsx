import { useState } from "preact/hooks";
import { ProblemBanner } from "../components/problem-banner.js";
import { formatLimit, parseLimits } from "../format.js";
import type { ApiKeyWire, LimitWire } from "../wire.js";

/** Prepaid credits as the form sends them (a fresh balance). */
export interface CreditSettings {
  remaining: number;
  refill: { amount: number; interval: "daily" | "monthly" } | null;
}

/**
 * What the key form edits, in the admin API's field names. `concurrency` and `credits`
 * are sent only when they were changed: setting credits starts a fresh balance, which
 * saving a label must never do.
 */
export interface KeySettings {
  label: string;
  rate_limit_per_minute: number;
  monthly_limit: number | null;
  limits: LimitWire[];
  scopes: string[];
  expires_at: string | null;
  concurrency?: number | null;
  concurrency_mode?: "enforce" | "shadow";
  credits?: CreditSettings | null;
}

/**
 * The settings of a key, for creation and for editing: label, per-minute limit, monthly
 * quota, named windows (typed as the CLI takes them), concurrency cap, prepaid credits,
 * scopes and expiry. Checks what it can before sending; the API has the last word (its
 * problem is shown).
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
  // What the fields held when the form opened (kept as they were, whatever reloads the key
  // meanwhile): a cap or credits are sent only when the user changed them from these.
  const [initial] = useState(() => initialCapAndCredits(key));
  const [concurrency, setConcurrency] = useState(initial.concurrency);
  const [concurrencyMode, setConcurrencyMode] = useState(initial.concurrencyMode);
  const [credits, setCredits] = useState(initial.credits);
  const [refillAmount, setRefillAmount] = useState(initial.refillAmount);
  const [refillInterval, setRefillInterval] = useState(initial.refillInterval);
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
          if (
            concurrency.trim() !== initial.concurrency ||
            concurrencyMode !== initial.concurrencyMode
          ) {
            if (concurrency.trim() === "") {
              settings.concurrency = null;
            } else {
              settings.concurrency = wholeNumber(concurrency, "Concurrency cap");
              settings.concurrency_mode = concurrencyMode;
            }
          }
          const creditsChanged =
            credits.trim() !== initial.credits ||
            refillAmount.trim() !== initial.refillAmount ||
            (refillAmount.trim() !== "" && refillInterval !== initial.refillInterval);
          if (creditsChanged) {
            if (credits.trim() === "" && refillAmount.trim() !== "") {
              throw new Error(
                "Refilled credits need a balance to start from: fill in the credits.",
              );
            }
            settings.credits =
              credits.trim() === ""
                ? null
                : {
                    remaining: wholeNumber(credits, "Credits"),
                    refill:
                      refillAmount.trim() === ""
                        ? null
                        : {
                            amount: wholeNumber(refillAmount, "Refill amount"),
                            interval: refillInterval,
                          },
                  };
          }
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
      <label for={id("concurrency")}>Requests in flight at once (empty: no cap)</label>
      <span class="inline-form">
        <input
          id={id("concurrency")}
          inputMode="numeric"
          value={concurrency}
          onInput={(e) => setConcurrency(e.currentTarget.value)}
        />
        <label class="sr-only" for={id("concurrency-mode")}>
          Concurrency mode
        </label>
        <select
          id={id("concurrency-mode")}
          value={concurrencyMode}
          onChange={(e) => setConcurrencyMode(e.currentTarget.value as "enforce" | "shadow")}
        >
          <option value="enforce">enforce</option>
          <option value="shadow">shadow (only count)</option>
        </select>
      </span>
      <label for={id("credits")}>
        {key === undefined
          ? "Prepaid credits (empty: none)"
          : "Prepaid credits (changing them starts a fresh balance; empty: none)"}
      </label>
      <input
        id={id("credits")}
        inputMode="numeric"
        value={credits}
        onInput={(e) => setCredits(e.currentTarget.value)}
      />
      <label for={id("refill")}>
        {key === undefined
          ? "Refill credits to (empty: no refill)"
          : "Refill credits to (changing it starts a fresh balance too; empty: no refill)"}
      </label>
      <span class="inline-form">
        <input
          id={id("refill")}
          inputMode="numeric"
          value={refillAmount}
          onInput={(e) => setRefillAmount(e.currentTarget.value)}
        />
        <label class="sr-only" for={id("refill-interval")}>
          Refill interval
        </label>
        <select
          id={id("refill-interval")}
          value={refillInterval}
          onChange={(e) => setRefillInterval(e.currentTarget.value as "daily" | "monthly")}
        >
          <option value="daily">every day (UTC midnight)</option>
          <option value="monthly">every month (the 1st, UTC)</option>
        </select>
      </span>
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

/** The concurrency and credit fields as a key's settings fill them (empty for a new key). */
function initialCapAndCredits(key: ApiKeyWire | undefined) {
  return {
    concurrency: key?.concurrency == null ? "" : String(key.concurrency),
    concurrencyMode: (key?.concurrency_mode ?? "enforce") as "enforce" | "shadow",
    credits:
      key?.credits == null ? "" : String(key.credits.remaining ?? key.credits.period_credits),
    refillAmount: key?.credits?.refill == null ? "" : String(key.credits.refill.amount),
    refillInterval: (key?.credits?.refill?.interval ?? "monthly") as "daily" | "monthly",
  };
}
