import type { ApiKeyInfo, CreditBalance } from "@keyguard/core";
import { formatConcurrency, formatLimits } from "../parse-values.js";
import type { Colors } from "./colors.js";
import { formatDateTime } from "./format.js";
import { plainTable } from "./plain-table.js";

/** A key's status as `list-keys` shows it: revoked and expired win over active. */
export function keyStatus(key: ApiKeyInfo, now: number): "active" | "revoked" | "expired" {
  if (!key.isActive) return "revoked";
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return "expired";
  return "active";
}

/** keyguard-python's `list-keys` table and its `Total: N key(s)` footer. */
export function renderKeyTable(
  keys: readonly ApiKeyInfo[],
  now: number,
  colors: Colors,
  balances: ReadonlyMap<string, CreditBalance | undefined> = new Map(),
): string {
  const paint = { active: colors.green, revoked: colors.red, expired: colors.yellow };
  // keyguard-python's columns; a compact "Limits" one only when some key has named windows, a
  // concurrency cap or credits, so keyguard-python's table stays as it was for keys without them.
  const withLimits = keys.some(
    (key) =>
      (key.limits?.length ?? 0) > 0 || (key.concurrency ?? null) !== null || Boolean(key.credits),
  );
  const rows = keys.map((key) => {
    const status = keyStatus(key, now);
    const row = [
      key.label,
      key.prefix,
      key.organizationName,
      paint[status](status),
      String(key.rateLimitPerMinute),
      formatDateTime(key.lastUsedAt),
    ];
    if (withLimits) {
      const credits = creditsCell(key, balances.get(key.id));
      const shown = [formatLimits(key.limits), formatConcurrency(key.concurrency), credits]
        .filter((part) => part !== "")
        .join(" ");
      row.push(shown || "-");
    }
    return row;
  });
  const headings = ["Label", "Prefix", "Org", "Status", "Rate/min", "Last Used"];
  const widths = [25, 15, 20, 10, 10, 16];
  if (withLimits) {
    headings.push("Limits");
    // The last column, as wide as its longest entry: windows are never cut off.
    widths.push(Math.max("Limits".length, ...rows.map((row) => (row[6] as string).length)) + 1);
  }
  const table = plainTable(headings, widths, rows);
  return `\n${table}\n\nTotal: ${keys.length} key(s)\n`;
}

/** `credits=7/10` (left of the period's), `+10/d` or `+10/mo` with a refill. */
function creditsCell(key: ApiKeyInfo, balance: CreditBalance | undefined): string {
  const credits = key.credits;
  if (!credits) return "";
  const left = balance === undefined ? "?" : String(balance.remaining);
  const of = balance?.periodCredits ?? credits.granted;
  const refill =
    credits.refill === null
      ? ""
      : ` +${credits.refill.amount}/${credits.refill.interval === "daily" ? "d" : "mo"}`;
  return `credits=${left}/${of}${refill}`;
}
