/** What an IP rule does to the clients it covers. */
export type IpRuleAction = "allow" | "deny";

/**
 * An allow or deny rule for an address or CIDR range. `allow`: never limited or blocked
 * (health checkers, internal networks); `deny`: always refused with 403 `ip_denied`,
 * before any key work. Deny wins where both cover a client.
 */
export interface IpRule {
  /** Stored rules' id; `null` for a rule from the configuration (`ipRules`). */
  readonly id: string | null;
  /** Canonical spelling (`203.0.113.0/24`, `2001:db8::/32`), always with its prefix. */
  readonly cidr: string;
  readonly action: IpRuleAction;
  readonly reason: string | null;
  /** When it was stored; `null` for a configured rule. */
  readonly createdAt: Date | null;
  /** Where it comes from: the configuration, or the database (admin API, CLI). */
  readonly source: "config" | "store";
}

/** A rule as the store holds it. */
export interface StoredIpRule {
  readonly id: string;
  readonly cidr: string;
  readonly action: IpRuleAction;
  readonly reason: string | null;
  readonly createdAt: Date;
}
