import type { PolicyStatus } from "@keyguard/core";
import { formatSeconds } from "../parse-values.js";
import { formatCount } from "./format.js";
import { plainTable } from "./plain-table.js";

/**
 * Where each of a key's policies stands (`show-key`): what is left now, read without
 * spending, and when more comes back. A dash where this process cannot tell (a window
 * without `--redis`: only the servers count it; a concurrency cap, always).
 */
export function renderPolicyTable(policies: readonly PolicyStatus[]): string {
  const rows = policies.map((policy) => [
    policy.name + (policy.mode === "shadow" ? " (shadow)" : ""),
    policy.scope === "organization" ? "organization" : "key",
    formatCount(policy.limit),
    counted(policy),
    policy.remaining === null ? "-" : formatCount(policy.remaining),
    // To the second: a window's reset is often less than a minute away.
    policy.resetsAt === null ? "-" : policy.resetsAt.toISOString().slice(0, 19).replace("T", " "),
  ]);
  return plainTable(
    ["Policy", "Of", "Limit", "Counted", "Left", "Resets (UTC)"],
    [22, 13, 15, 17, 15, 22],
    rows,
  );
}

function counted(policy: PolicyStatus): string {
  if (policy.scope === "quota" && policy.name === "month") return "calendar month";
  if (policy.scope === "quota" && policy.name === "credits") {
    if (policy.windowSeconds === 0) return "prepaid";
    return policy.windowSeconds === 86_400 ? "refilled daily" : "refilled monthly";
  }
  if (policy.windowSeconds === 0) return "in flight";
  return `per ${formatSeconds(policy.windowSeconds)}`;
}
