import type { ApiKeyInfo } from "../domain/api-key.js";
import type { UsageBucket } from "../domain/usage-bucket.js";

/** Keys the overview ranks by requests. */
export const TOP_KEYS = 10;

/** Every key's requests in one UTC hour, by status class; `status429` is part of `status4xx`. */
export interface UsageOverviewHour extends UsageBucket {
  readonly status429: number;
}

/** What the store reads for the overview: all keys' hours, and the busiest keys' ids. */
export interface StoredUsageOverview {
  /** Hours with requests, oldest first (see `Store.usageOverview`). */
  readonly hours: readonly UsageOverviewHour[];
  /** The keys with the most requests in the period, most first (ties by id). */
  readonly topKeys: readonly { readonly keyId: string; readonly requests: number }[];
}

/** Every key's usage since a time: hours (zeros filled in) and the busiest keys. */
export interface UsageOverview {
  readonly since: Date;
  readonly hours: readonly UsageOverviewHour[];
  readonly topKeys: readonly { readonly key: ApiKeyInfo; readonly requests: number }[];
}

/** The overview on the wire (admin `GET /usage`): keyguard-python's snake_case and ISO times. */
export interface UsageOverviewWire {
  readonly since: string;
  readonly hours: {
    readonly hour: string;
    readonly total: number;
    readonly status_2xx: number;
    readonly status_3xx: number;
    readonly status_4xx: number;
    readonly status_429: number;
    readonly status_5xx: number;
  }[];
  readonly top_keys: {
    readonly key_id: string;
    readonly label: string;
    readonly prefix: string;
    readonly org_name: string;
    readonly requests: number;
  }[];
}

export function toUsageOverviewWire(overview: UsageOverview): UsageOverviewWire {
  return {
    since: overview.since.toISOString(),
    hours: overview.hours.map((hour) => ({
      hour: hour.hour.toISOString(),
      total: hour.total,
      status_2xx: hour.status2xx,
      status_3xx: hour.status3xx,
      status_4xx: hour.status4xx,
      status_429: hour.status429,
      status_5xx: hour.status5xx,
    })),
    top_keys: overview.topKeys.map(({ key, requests }) => ({
      key_id: key.id,
      label: key.label,
      prefix: key.prefix,
      org_name: key.organizationName,
      requests,
    })),
  };
}
