import type { ApiKey } from "@keyguard/core";
import type { Insertable } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import { concurrencyColumns } from "./concurrency-columns.js";
import type { ApiKeysTable } from "./database-schema.js";
import { writeLimits } from "./limits-column.js";

/** A key as its `api_keys` row: one mapping for creation, rotation and bulk imports. */
export function apiKeyRow(key: ApiKey, codec: ColumnCodec): Insertable<ApiKeysTable> {
  return {
    id: key.id,
    org_id: key.orgId,
    label: key.label,
    prefix: key.prefix,
    key_hash: key.keyHash,
    key_hash_scheme: key.hashScheme ?? "hmac-sha256",
    is_active: codec.boolean(key.isActive),
    scopes: codec.json(key.scopes),
    rate_limit_per_minute: key.rateLimitPerMinute,
    monthly_limit: key.monthlyLimit,
    limits: writeLimits(key.limits),
    ...concurrencyColumns(key.concurrency),
    created_at: codec.date(key.createdAt),
    expires_at: key.expiresAt && codec.date(key.expiresAt),
    last_used_at: key.lastUsedAt && codec.date(key.lastUsedAt),
    quota_id: key.quotaId,
    replaced_by: key.replacedBy,
    allowed_ips: key.allowedIps ? codec.json(key.allowedIps) : null,
  };
}
