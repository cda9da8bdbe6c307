import type { ApiKeyInfo } from "@keyguard/core";
import type { Colors } from "./colors.js";
import { formatDateTime } from "./format.js";
import { plainTable } from "./plain-table.js";

/** A key's status as `list-keys` shows it: revoked and expired win over active. */
export function keyStatus(key: ApiKeyInfo, now: number): "active" | "revoked" | "expired" {
  if (!key.isActive) return "revoked";
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return "expired";
  return "active";
}

/** The seed's `list-keys` table and its `Total: N key(s)` footer. */
export function renderKeyTable(keys: readonly ApiKeyInfo[], now: number, colors: Colors): string {
  const paint = { active: colors.green, revoked: colors.red, expired: colors.yellow };
  const rows = keys.map((key) => {
    const status = keyStatus(key, now);
    return [
      key.label,
      key.prefix,
      key.organizationName,
      paint[status](status),
      String(key.rateLimitPerMinute),
      formatDateTime(key.lastUsedAt),
    ];
  });
  const table = plainTable(
    ["Label", "Prefix", "Org", "Status", "Rate/min", "Last Used"],
    [25, 15, 20, 10, 10, 16],
    rows,
  );
  return `\n${table}\n\nTotal: ${keys.length} key(s)\n`;
}
