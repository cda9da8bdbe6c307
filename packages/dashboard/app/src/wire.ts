/** The admin API's wire format, as far as the dashboard reads it (see its OpenAPI document). */

export interface LimitWire {
  readonly name: string;
  readonly limit: number;
  readonly window_seconds: number;
  readonly algorithm?: string;
  readonly mode?: "enforce" | "shadow";
}

export interface OrganizationWire {
  readonly id: string;
  readonly name: string;
  readonly status: "active" | "suspended";
  readonly created_at: string;
  readonly limits: readonly LimitWire[];
}

export interface ApiKeyWire {
  readonly id: string;
  readonly org_id: string;
  readonly org_name: string;
  readonly label: string;
  readonly prefix: string;
  readonly status: "active" | "revoked" | "expired";
  readonly scopes: readonly string[];
  readonly rate_limit_per_minute: number;
  readonly monthly_limit: number | null;
  readonly limits: readonly LimitWire[];
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
  readonly allowed_ips: readonly string[] | null;
  /** Most requests in flight at once; null: no cap (absent from older servers). */
  readonly concurrency?: number | null;
  readonly concurrency_mode?: "enforce" | "shadow" | null;
  readonly credits?: CreditsWire | null;
}

/** A key's prepaid credits: `remaining` is live on a key's own page (null in listings). */
export interface CreditsWire {
  readonly remaining: number | null;
  readonly period_credits: number;
  readonly period_start: string;
  readonly refills_at: string | null;
  readonly refill: { readonly amount: number; readonly interval: "daily" | "monthly" } | null;
}

export interface CreatedApiKeyWire extends ApiKeyWire {
  readonly raw_key: string;
}

export interface StatsWire {
  readonly organizations: number;
  readonly total_keys: number;
  readonly active_keys: number;
  readonly total_requests: number;
  readonly requests_last_hour: number;
  readonly error_rate: number;
  readonly legacy_hash_keys: number;
  readonly shadow_refusals: number;
}

export interface UsageHourWire {
  readonly hour: string;
  readonly total: number;
  readonly status_2xx: number;
  readonly status_3xx: number;
  readonly status_4xx: number;
  readonly status_5xx: number;
}

export interface UsageWire {
  readonly key_id: string;
  readonly since: string;
  readonly hours: readonly UsageHourWire[];
}

export interface IpBlockWire {
  readonly client: string;
  readonly scope: "global" | "path";
  readonly path: string | null;
  readonly until: string;
  readonly reason: string;
  readonly automatic: boolean;
}

export interface IpRuleWire {
  readonly id: string | null;
  readonly cidr: string;
  readonly action: "allow" | "deny";
  readonly reason: string | null;
  readonly source: "config" | "store";
  readonly created_at: string | null;
}

export type EventValue = string | number | boolean | null | readonly string[];

export interface AuditEventWire {
  readonly id: string;
  readonly at: string;
  readonly actor: { readonly type: string; readonly name: string | null };
  readonly action: string;
  readonly target_type: string;
  readonly target_id: string;
  readonly changes: {
    readonly before: Readonly<Record<string, EventValue>>;
    readonly after: Readonly<Record<string, EventValue>>;
  };
}

export interface UsageOverviewWire {
  readonly since: string;
  readonly hours: readonly (UsageHourWire & { readonly status_429: number })[];
  readonly top_keys: readonly {
    readonly key_id: string;
    readonly label: string;
    readonly prefix: string;
    readonly org_name: string;
    readonly requests: number;
  }[];
}
