import type {
  ApiKeyInfo,
  ApiKeyStatus,
  IpBlock,
  KeyGuardStats,
  KeyUsage,
  Organization,
} from "@keyguard/core";
import { z } from "zod";

/**
 * What the admin API sends: the seed's snake_case field names, ISO 8601 times, and never a
 * key's hash (the raw key appears only in the creation and rotation responses). Each schema
 * documents the wire format in the OpenAPI document; each converter builds it.
 */

const timestamp = z.iso.datetime({ offset: true }).describe("ISO 8601 time (UTC)");

export const organizationWire = z
  .object({
    id: z.uuid(),
    name: z.string(),
    status: z.enum(["active", "suspended"]),
    created_at: timestamp,
  })
  .meta({ id: "Organization" });

export const apiKeyWire = z
  .object({
    id: z.uuid(),
    org_id: z.uuid(),
    org_name: z.string(),
    label: z.string(),
    prefix: z.string().describe("Display prefix, e.g. kg_live_4Gk9: the only part of the key kept"),
    status: z.enum(["active", "revoked", "expired"]),
    is_active: z.boolean().describe("false once revoked"),
    scopes: z.array(z.string()),
    rate_limit_per_minute: z.int(),
    monthly_limit: z.int().nullable(),
    created_at: timestamp,
    expires_at: timestamp.nullable(),
    last_used_at: timestamp.nullable(),
  })
  .meta({ id: "ApiKey" });

export const createdApiKeyWire = apiKeyWire
  .extend({
    raw_key: z.string().describe("The key itself. Shown this once: it is not stored anywhere."),
  })
  .meta({ id: "CreatedApiKey" });

export const rotatedApiKeyWire = z
  .object({
    key: createdApiKeyWire,
    previous: apiKeyWire.describe("The old key: revoked, or expiring when the grace period ends"),
  })
  .meta({ id: "RotatedApiKey" });

export const statsWire = z
  .object({
    organizations: z.int(),
    total_keys: z.int(),
    active_keys: z.int(),
    total_requests: z.int(),
    requests_last_hour: z.int(),
    error_rate: z.number().describe("Share of requests answered 400 or above (0.024 = 2.4%)"),
  })
  .meta({ id: "Stats" });

export const usageWire = z
  .object({
    key_id: z.uuid(),
    since: timestamp,
    hours: z.array(
      z.object({
        hour: timestamp,
        total: z.int(),
        status_2xx: z.int(),
        status_3xx: z.int(),
        status_4xx: z.int(),
        status_5xx: z.int(),
      }),
    ),
  })
  .meta({ id: "KeyUsage" });

export const ipBlockWire = z
  .object({
    client: z.string().describe("The IP, or the IPv6 prefix clients are limited by"),
    scope: z.enum(["global", "path"]),
    path: z.string().nullable(),
    until: timestamp,
    reason: z.string(),
  })
  .meta({ id: "IpBlock" });

export const problemWire = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().describe("Stable machine-readable error code"),
  })
  .meta({ id: "Problem" });

/** A page of a listing; `next_cursor` fetches the next one (null on the last page). */
export function pageWire<T extends z.ZodType>(item: T, id: string) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() }).meta({ id });
}

const iso = (date: Date) => date.toISOString();
const isoOrNull = (date: Date | null) => (date === null ? null : date.toISOString());

export function toOrganizationWire(organization: Organization): z.infer<typeof organizationWire> {
  return {
    id: organization.id,
    name: organization.name,
    status: organization.status,
    created_at: iso(organization.createdAt),
  };
}

/** A key's status as the store's listing filter defines it: revoked wins over expired. */
function keyStatus(key: ApiKeyInfo, now: number): ApiKeyStatus {
  if (!key.isActive) return "revoked";
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return "expired";
  return "active";
}

export function toApiKeyWire(key: ApiKeyInfo, now: number): z.infer<typeof apiKeyWire> {
  return {
    id: key.id,
    org_id: key.orgId,
    org_name: key.organizationName,
    label: key.label,
    prefix: key.prefix,
    status: keyStatus(key, now),
    is_active: key.isActive,
    scopes: [...key.scopes],
    rate_limit_per_minute: key.rateLimitPerMinute,
    monthly_limit: key.monthlyLimit,
    created_at: iso(key.createdAt),
    expires_at: isoOrNull(key.expiresAt),
    last_used_at: isoOrNull(key.lastUsedAt),
  };
}

export function toStatsWire(stats: KeyGuardStats): z.infer<typeof statsWire> {
  return {
    organizations: stats.organizations,
    total_keys: stats.totalKeys,
    active_keys: stats.activeKeys,
    total_requests: stats.totalRequests,
    requests_last_hour: stats.requestsLastHour,
    error_rate: stats.errorRate,
  };
}

export function toUsageWire(usage: KeyUsage): z.infer<typeof usageWire> {
  return {
    key_id: usage.key.id,
    since: iso(usage.since),
    hours: usage.buckets.map((bucket) => ({
      hour: iso(bucket.hour),
      total: bucket.total,
      status_2xx: bucket.status2xx,
      status_3xx: bucket.status3xx,
      status_4xx: bucket.status4xx,
      status_5xx: bucket.status5xx,
    })),
  };
}

export function toIpBlockWire(block: IpBlock): z.infer<typeof ipBlockWire> {
  return {
    client: block.client,
    scope: block.scope,
    path: block.path ?? null,
    until: new Date(block.untilMs).toISOString(),
    reason: block.reason,
  };
}
