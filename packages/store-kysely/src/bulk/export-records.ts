import type { Kysely } from "kysely";
import type { ColumnCodec } from "../column-codec.js";
import type { DatabaseSchema } from "../database-schema.js";
import type { ImportRecords } from "./import-records.js";

/**
 * Everything `keyguard export` writes: every organization, every key with its hash and
 * hash scheme (never a raw key: there is none), every usage row and every stored block,
 * each kind ordered by id. The inverse of `importRecords`.
 */
export async function exportRecords(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
): Promise<Required<ImportRecords>> {
  const organizations = await db.selectFrom("organizations").selectAll().orderBy("id").execute();
  const keys = await db.selectFrom("api_keys").selectAll().orderBy("id").execute();
  const usage = await db.selectFrom("usage_logs").selectAll().orderBy("id").execute();
  const blocks = await db.selectFrom("ip_blocks").selectAll().orderBy("id").execute();
  const dateOrNull = (value: Parameters<ColumnCodec["readDate"]>[0] | null) =>
    value === null ? null : codec.readDate(value);
  return {
    organizations: organizations.map((row) => ({
      id: row.id,
      name: row.name,
      status: row.status === "suspended" ? "suspended" : "active",
      createdAt: codec.readDate(row.created_at),
    })),
    apiKeys: keys.map((row) => ({
      id: row.id,
      orgId: row.org_id,
      label: row.label,
      prefix: row.prefix,
      keyHash: row.key_hash,
      hashScheme: row.key_hash_scheme as NonNullable<
        ImportRecords["apiKeys"][number]["hashScheme"]
      >,
      isActive: codec.readBoolean(row.is_active),
      scopes: codec.readJson(row.scopes) as string[],
      rateLimitPerMinute: row.rate_limit_per_minute,
      monthlyLimit: row.monthly_limit === null ? null : codec.readInteger(row.monthly_limit),
      createdAt: codec.readDate(row.created_at),
      expiresAt: dateOrNull(row.expires_at),
      lastUsedAt: dateOrNull(row.last_used_at),
      quotaId: row.quota_id ?? row.id,
      replacedBy: row.replaced_by ?? null,
      ...(row.allowed_ips === null || row.allowed_ips === undefined
        ? {}
        : { allowedIps: codec.readJson(row.allowed_ips) as string[] }),
    })),
    usage: usage.map((row) => ({
      id: row.id,
      keyId: row.key_id,
      path: row.path,
      method: row.method,
      statusCode: row.status_code,
      latencyMs: row.latency_ms,
      ipAddress: row.ip_address,
      timestamp: codec.readDate(row.timestamp),
      requestCount: row.request_count,
    })),
    ipBlocks: blocks.map((row) => ({
      id: row.id,
      client: row.client,
      scope: row.scope === "path" ? "path" : "global",
      path: row.path,
      reason: row.reason,
      createdAt: codec.readDate(row.created_at),
      until: codec.readDate(row.until),
    })),
  };
}
