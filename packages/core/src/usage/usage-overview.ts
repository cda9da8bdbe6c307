import type { ApiKeyInfo } from "../domain/api-key.js";
import type { UsageBucket } from "../domain/usage-bucket.js";
import { KeyGuardError } from "../errors/keyguard-error.js";

const HOUR_MS = 3_600_000;
/** One bucket per hour: a report reaching back to 1970 would be half a million of them. */
const MAX_REPORT_MS = 366 * 24 * HOUR_MS;
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

/** Checks a report's start: a valid time, not in the future, within the last 366 days. */
export function checkReportStart(since: unknown, now: number): Date {
  const sinceMs = since instanceof Date ? since.getTime() : Number.NaN;
  if (Number.isNaN(sinceMs)) throw new KeyGuardError("invalid_input", "since must be a valid date");
  if (sinceMs > now) throw new KeyGuardError("invalid_input", "since must not be in the future");
  if (now - sinceMs > MAX_REPORT_MS) {
    throw new KeyGuardError("invalid_input", "since must be within the last 366 days");
  }
  return since as Date;
}

/** The stored overview with every hour from `since`'s to `now`'s, hours without requests as zeros. */
export function fillOverviewHours(
  rows: readonly UsageOverviewHour[],
  since: Date,
  now: number,
): UsageOverviewHour[] {
  const byHour = new Map(rows.map((row) => [row.hour.getTime(), row]));
  const hours: UsageOverviewHour[] = [];
  for (let hour = Math.floor(since.getTime() / HOUR_MS) * HOUR_MS; hour <= now; hour += HOUR_MS) {
    hours.push(
      byHour.get(hour) ?? {
        hour: new Date(hour),
        total: 0,
        status2xx: 0,
        status3xx: 0,
        status4xx: 0,
        status429: 0,
        status5xx: 0,
      },
    );
  }
  return hours;
}

/** The overview on the wire (admin `GET /usage`): the seed's snake_case and ISO times. */
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
