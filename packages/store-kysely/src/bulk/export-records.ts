import type { Kysely } from "kysely";
import { apiKeyFromRow } from "../api-key-row.js";
import type { ColumnCodec } from "../column-codec.js";
import type { DatabaseSchema } from "../database-schema.js";
import { ipRuleFromRow } from "../ip-rule-queries.js";
import { organizationFromRow } from "../organization-row.js";
import type { ImportRecords } from "./import-records.js";

/**
 * Everything `keyguard export` writes: every organization (with its windows and
 * concurrency cap), every key with its hash and hash scheme (never a raw key: there is
 * none), its windows, concurrency cap, allowed addresses and credits, every usage row
 * (with whether it has been rolled up), every usage rollup (the only record left of usage
 * whose rows retention has deleted), the credits spent per lineage and period, every
 * stored block and every stored IP rule, each kind ordered by id (rollups by key, hour
 * and status class; spending by lineage and period). Not exported: the audit log, webhook
 * endpoints and their deliveries (`keyguard copy-db` copies those). The inverse of
 * `importRecords`. Keys, organizations and rules are read by the mappings every other
 * read uses, so an export holds what the servers see.
 */
export async function exportRecords(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
): Promise<Required<ImportRecords>> {
  const organizations = await db.selectFrom("organizations").selectAll().orderBy("id").execute();
  const keys = await db.selectFrom("api_keys").selectAll().orderBy("id").execute();
  const usage = await db.selectFrom("usage_logs").selectAll().orderBy("id").execute();
  const rollups = await db
    .selectFrom("usage_rollups")
    .selectAll()
    .orderBy("key_id")
    .orderBy("hour")
    .orderBy("status_class")
    .execute();
  const spending = await db
    .selectFrom("credit_spending")
    .selectAll()
    .orderBy("quota_id")
    .orderBy("period_start")
    .execute();
  const blocks = await db.selectFrom("ip_blocks").selectAll().orderBy("id").execute();
  const rules = await db.selectFrom("ip_rules").selectAll().orderBy("id").execute();
  return {
    organizations: organizations.map((row) => organizationFromRow(row, codec)),
    apiKeys: keys.map((row) => apiKeyFromRow(row, codec)),
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
      charged: codec.readBoolean(row.charged),
      rolledUp: codec.readBoolean(row.rolled_up),
    })),
    usageRollups: rollups.map((row) => ({
      keyId: row.key_id,
      hour: codec.readDate(row.hour),
      statusClass: row.status_class,
      requestCount: codec.readInteger(row.request_count),
      chargedCount: codec.readInteger(row.charged_count),
    })),
    creditSpending: spending.map((row) => ({
      quotaId: row.quota_id,
      periodStart: codec.readDate(row.period_start),
      spent: codec.readInteger(row.spent),
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
    ipRules: rules.map((row) => ipRuleFromRow(row, codec)),
  };
}
