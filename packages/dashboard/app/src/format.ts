import type {
  CreditsWire,
  LimitWire,
  ListedOrganizationWire,
  OrganizationWire,
  PolicyStatusWire,
} from "./wire.js";

/** Formatting for the screens: pure functions of their inputs (tested without a browser). */

const UNITS: readonly [number, string][] = [
  [86_400, "d"],
  [3_600, "h"],
  [60, "m"],
  [1, "s"],
];

/** A window as the CLI writes it: 60 -> "1m", 86400 -> "1d", 90 -> "90s". */
export function formatWindow(seconds: number): string {
  for (const [size, unit] of UNITS) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** A key's limits in one line: `minute=60/1m burst=10/1s month=10000`. */
export function formatKeyLimits(key: {
  readonly rate_limit_per_minute: number;
  readonly monthly_limit: number | null;
  readonly limits: readonly LimitWire[];
  readonly concurrency?: number | null;
  readonly concurrency_mode?: "enforce" | "shadow" | null;
  readonly credits?: CreditsWire | null;
}): string {
  const parts = [`minute=${key.rate_limit_per_minute}/1m`];
  for (const limit of key.limits) parts.push(formatLimit(limit));
  if (key.concurrency != null) {
    const shadow = key.concurrency_mode === "shadow" ? " (shadow)" : "";
    parts.push(`concurrency=${key.concurrency}${shadow}`);
  }
  if (key.monthly_limit !== null) parts.push(`month=${key.monthly_limit}`);
  if (key.credits != null) parts.push(`credits=${formatCredits(key.credits)}`);
  return parts.join(" ");
}

/** Credits as `left/of` (or `of` where what is left was not looked up), and the refill. */
export function formatCredits(credits: CreditsWire): string {
  const amount =
    credits.remaining === null
      ? String(credits.period_credits)
      : `${credits.remaining}/${credits.period_credits}`;
  return credits.refill === null
    ? amount
    : `${amount} (refill ${credits.refill.amount} ${credits.refill.interval})`;
}

export function formatLimit(limit: LimitWire): string {
  const shadow = limit.mode === "shadow" ? " (shadow)" : "";
  return `${limit.name}=${limit.limit}/${formatWindow(limit.window_seconds)}${shadow}`;
}

/**
 * Parses limits typed as the CLI takes them (`burst=10/1s day=10000/1d`, separated by
 * spaces, commas or new lines) into the admin API's form; an error names the bad entry.
 */
export function parseLimits(text: string): LimitWire[] {
  const limits: LimitWire[] = [];
  for (const entry of text.split(/[\s,]+/).filter((part) => part !== "")) {
    const match = /^([a-z0-9_-]{1,32})=(\d{1,15})\/(\d{1,9})([smhd]?)$/.exec(entry);
    if (match === null) {
      throw new Error(`"${entry}" is not a limit: write NAME=LIMIT/WINDOW, e.g. burst=10/1s`);
    }
    const [, name, limit, amount, unit] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const size = { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 }[unit] ?? 1;
    limits.push({ name, limit: Number(limit), window_seconds: Number(amount) * size });
  }
  return limits;
}

/** A count with thousands separators, in English (the page's language). */
export function formatCount(value: number): string {
  return value.toLocaleString("en-US");
}

export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction > 0 && fraction < 0.001 ? 2 : 1)}%`;
}

/** How long ago (or until) a time, in the largest whole unit: "3 min ago", "in 2 h". */
export function formatRelative(iso: string | null, now: number): string {
  if (iso === null) return "never";
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const seconds = Math.round((at - now) / 1000);
  const size = Math.abs(seconds);
  const [amount, unit] =
    size < 60
      ? [size, "s"]
      : size < 3_600
        ? [Math.floor(size / 60), "min"]
        : size < 86_400
          ? [Math.floor(size / 3_600), "h"]
          : [Math.floor(size / 86_400), "d"];
  if (size < 5) return "just now";
  return seconds < 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
}

/** A time as UTC, to the minute: "2026-12-02 04:31 UTC". */
export function formatTime(iso: string | null): string {
  if (iso === null) return "—";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * What a policy counts over, for a key's limits table: a window as the CLI writes it, the
 * calendar month, requests in flight at once, or prepaid credits (and their refill).
 * Reserved names tell them apart: an organization's windows are always `org.`-prefixed.
 */
export function formatPolicyWindow(policy: PolicyStatusWire): string {
  if (policy.scope === "quota" && policy.name === "month") return "calendar month (UTC)";
  if (policy.scope === "quota" && policy.name === "credits") {
    if (policy.window_seconds === 0) return "prepaid";
    return policy.window_seconds === 86_400
      ? "prepaid, refilled daily"
      : "prepaid, refilled monthly";
  }
  if (policy.window_seconds === 0) return "in flight at once";
  return `per ${formatWindow(policy.window_seconds)}`;
}

/** Whose counter a policy spends, in the page's words. */
export function formatPolicyScope(policy: PolicyStatusWire): string {
  if (policy.scope === "organization") return "organization (all its keys)";
  if (policy.scope === "quota") return "key and its rotations";
  return "key";
}

/** What is left of a policy: `3 of 10`, or a dash where the server does not count it. */
export function formatRemaining(policy: PolicyStatusWire): string {
  if (policy.remaining === null) return "—";
  return `${formatCount(policy.remaining)} of ${formatCount(policy.limit)}`;
}

/** An organization's keys in a listing: "2 active of 3", or a dash where not counted. */
export function formatKeyCounts(keys: ListedOrganizationWire["keys"]): string {
  if (keys === null) return "—";
  return `${formatCount(keys.active)} active of ${formatCount(keys.total)}`;
}

/** The windows and the concurrency cap an organization's keys share, in one line. */
export function formatOrganizationLimits(org: OrganizationWire): string {
  const parts = org.limits.map(formatLimit);
  if (org.concurrency !== null) {
    const shadow = org.concurrency_mode === "shadow" ? " (shadow)" : "";
    parts.push(`concurrency=${org.concurrency}${shadow}`);
  }
  return parts.length === 0 ? "none" : parts.join(" ");
}
