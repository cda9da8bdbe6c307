import type { IpRule } from "../domain/ip-rule.js";

/** An IP rule as the admin API and the CLI's `--json` show it. */
export interface IpRuleWire {
  /** `null` for a rule from the configuration (it cannot be removed through the API). */
  readonly id: string | null;
  readonly cidr: string;
  readonly action: "allow" | "deny";
  readonly reason: string | null;
  readonly created_at: string | null;
  readonly source: "config" | "store";
}

export function toIpRuleWire(rule: IpRule): IpRuleWire {
  return {
    id: rule.id,
    cidr: rule.cidr,
    action: rule.action,
    reason: rule.reason,
    created_at: rule.createdAt === null ? null : rule.createdAt.toISOString(),
    source: rule.source,
  };
}
