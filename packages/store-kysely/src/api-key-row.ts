import type { ApiKey, KeyCredits } from "@keyguard/core";
import type { Insertable, Selectable } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
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
    created_at: codec.date(key.createdAt),
    expires_at: key.expiresAt && codec.date(key.expiresAt),
    last_used_at: key.lastUsedAt && codec.date(key.lastUsedAt),
    quota_id: key.quotaId,
    replaced_by: key.replacedBy,
    allowed_ips: key.allowedIps ? codec.json(key.allowedIps) : null,
    ...creditColumns(key.credits ?? null, codec),
  };
}

/** A key's credits as its four `credits_*` columns (all null: no credits). */
export function creditColumns(
  credits: KeyCredits | null,
  codec: ColumnCodec,
): Pick<
  Insertable<ApiKeysTable>,
  "credits_granted" | "credits_epoch" | "credits_refill_amount" | "credits_refill_interval"
> {
  return {
    credits_granted: credits?.granted ?? null,
    credits_epoch: credits === null ? null : codec.date(credits.epoch),
    credits_refill_amount: credits?.refill?.amount ?? null,
    credits_refill_interval: credits?.refill?.interval ?? null,
  };
}

/** The `credits_*` columns back to a key's credits (null without a grant). */
export function readCredits(
  row: Pick<
    Selectable<ApiKeysTable>,
    "credits_granted" | "credits_epoch" | "credits_refill_amount" | "credits_refill_interval"
  >,
  codec: ColumnCodec,
): KeyCredits | null {
  if (row.credits_granted === null || row.credits_granted === undefined) return null;
  if (row.credits_epoch === null || row.credits_epoch === undefined) return null;
  const interval = row.credits_refill_interval;
  return {
    granted: codec.readInteger(row.credits_granted),
    epoch: codec.readDate(row.credits_epoch),
    refill:
      row.credits_refill_amount !== null && (interval === "daily" || interval === "monthly")
        ? { amount: codec.readInteger(row.credits_refill_amount), interval }
        : null,
  };
}
