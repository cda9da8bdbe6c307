import type { Organization } from "@keyguard/core";
import type { Colors } from "./colors.js";
import { formatDateTime } from "./format.js";
import { plainTable } from "./plain-table.js";

/** `list-orgs`: name, status, key count and creation time, in the `list-keys` style. */
export function renderOrganizationTable(
  organizations: readonly Organization[],
  keyCounts: ReadonlyMap<string, number>,
  colors: Colors,
): string {
  const rows = organizations.map((org) => [
    org.name,
    org.status === "active" ? colors.green(org.status) : colors.yellow(org.status),
    String(keyCounts.get(org.id) ?? 0),
    formatDateTime(org.createdAt),
    org.id,
  ]);
  const table = plainTable(["Name", "Status", "Keys", "Created", "ID"], [30, 10, 6, 17, 36], rows);
  return `\n${table}\n\nTotal: ${organizations.length} organization(s)\n`;
}
