import type { KeyCredits } from "@keyguard/core";
import { type ApiKey, isKeyHashScheme } from "@keyguard/core/internal";
import type { Insertable, Selectable } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import { concurrencyColumns, readConcurrency } from "./concurrency-columns.js";
import type { ApiKeysTable } from "./database-schema.js";
import { readLimits, writeLimits } from "./limits-column.js";

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

/**
 * The inverse: an `api_keys` row as the key, for every read (verification, listings,
 * exports), so none of them can miss a column the others see.
 */
export function apiKeyFromRow(row: Selectable<ApiKeysTable>, codec: ColumnCodec): ApiKey {
  return {
    id: row.id,
    orgId: row.org_id,
    label: row.label,
    prefix: row.prefix,
    keyHash: row.key_hash,
    hashScheme: isKeyHashScheme(row.key_hash_scheme) ? row.key_hash_scheme : "hmac-sha256",
    isActive: codec.readBoolean(row.is_active),
    scopes: codec.readJson(row.scopes) as string[],
    rateLimitPerMinute: row.rate_limit_per_minute,
    monthlyLimit: row.monthly_limit === null ? null : codec.readInteger(row.monthly_limit),
    limits: readLimits(row.limits),
    concurrency: readConcurrency(row.concurrency, row.concurrency_mode),
    credits: readCredits(row, codec),
    createdAt: codec.readDate(row.created_at),
    expiresAt: row.expires_at === null ? null : codec.readDate(row.expires_at),
    lastUsedAt: row.last_used_at === null ? null : codec.readDate(row.last_used_at),
    quotaId: row.quota_id ?? row.id,
    replacedBy: row.replaced_by ?? null,
    ...allowedIpsOf(row.allowed_ips, codec),
  };
}

/** A key's `allowed_ips` column as the key's field (absent when the key has none). */
function allowedIpsOf(value: unknown, codec: ColumnCodec): { allowedIps?: readonly string[] } {
  if (value === null || value === undefined) return {};
  const list = codec.readJson(value);
  return Array.isArray(list) && list.length > 0 ? { allowedIps: list as string[] } : {};
}
