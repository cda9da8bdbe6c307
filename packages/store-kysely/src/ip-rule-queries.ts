import type { StoredIpRule } from "@keyguard/core";
import type { Kysely, Selectable } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import type { DatabaseSchema, IpRulesTable } from "./database-schema.js";

/** `Store.listIpRules`: oldest first (ids are time-ordered), at most `limit`. */
export async function listIpRules(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  limit: number,
): Promise<StoredIpRule[]> {
  const rows = await db
    .selectFrom("ip_rules")
    .selectAll()
    .orderBy("created_at")
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((row) => toRule(row, codec));
}

/**
 * `Store.insertIpRule`: one row per cidr (its unique index decides between racing
 * writers: `on conflict do nothing`), then the row stored for that cidr.
 */
export async function insertIpRule(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  rule: StoredIpRule,
): Promise<{ rule: StoredIpRule; created: boolean }> {
  const result = await db
    .insertInto("ip_rules")
    .values({
      id: rule.id,
      cidr: rule.cidr,
      action: rule.action,
      reason: rule.reason,
      created_at: codec.date(rule.createdAt),
    })
    .onConflict((conflict) => conflict.column("cidr").doNothing())
    .executeTakeFirst();
  const created = Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  const row = await db
    .selectFrom("ip_rules")
    .selectAll()
    .where("cidr", "=", rule.cidr)
    .executeTakeFirstOrThrow();
  return { rule: toRule(row, codec), created };
}

/** `Store.deleteIpRule`: the rule deleted, or `undefined`. */
export async function deleteIpRule(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  id: string,
): Promise<StoredIpRule | undefined> {
  const row = await db.selectFrom("ip_rules").selectAll().where("id", "=", id).executeTakeFirst();
  if (row === undefined) return undefined;
  const result = await db.deleteFrom("ip_rules").where("id", "=", id).executeTakeFirst();
  // Two removals racing: only the one that deleted the row reports it.
  return Number(result.numDeletedRows) === 1 ? toRule(row, codec) : undefined;
}

function toRule(row: Selectable<IpRulesTable>, codec: ColumnCodec): StoredIpRule {
  return {
    id: row.id,
    cidr: row.cidr,
    action: row.action === "allow" ? "allow" : "deny",
    reason: row.reason,
    createdAt: codec.readDate(row.created_at),
  };
}
