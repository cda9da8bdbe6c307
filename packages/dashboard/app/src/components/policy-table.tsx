import {
  formatCount,
  formatPolicyScope,
  formatPolicyWindow,
  formatRelative,
  formatRemaining,
} from "../format.js";
import type { PolicyStatusWire } from "../wire.js";
import { DataTable } from "./data-table.js";

/**
 * Where each of a key's policies stands, as `GET /keys/{id}` reads it without spending:
 * what is left now and when it comes back. A shadow policy is marked: it never refuses.
 */
export function PolicyTable(props: {
  readonly policies: readonly PolicyStatusWire[];
  readonly now: number;
}) {
  return (
    <DataTable columns={["Policy", "Applies to", "Limit", "Counted", "Left now", "Resets"]}>
      {props.policies.map((policy) => (
        <tr key={policy.name} data-testid={`policy-${policy.name}`}>
          <td>
            <code>{policy.name}</code>
            {policy.mode === "shadow" ? <span class="status">shadow</span> : null}
          </td>
          <td>{formatPolicyScope(policy)}</td>
          <td>{formatCount(policy.limit)}</td>
          <td>{formatPolicyWindow(policy)}</td>
          <td data-testid={`policy-${policy.name}-remaining`}>{formatRemaining(policy)}</td>
          <td>{policy.resets_at === null ? "—" : formatRelative(policy.resets_at, props.now)}</td>
        </tr>
      ))}
    </DataTable>
  );
}
