import type { StoredIpRule } from "@keyguard/core/internal";
import { type Kysely, type Selectable, sql } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import type { DatabaseSchema, DbInteger, IpRulesTable } from "./database-schema.js";
import { all, first, run, type Steps } from "./transaction-steps.js";

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
  return rows.map((row) => ipRuleFromRow(row, codec));
}

/**
 * `Store.insertIpRule` as one transaction's steps: the rule already stored for the cidr
 * (`created: false`), else `undefined` when `maxRules` rules are stored, else the rule
 * inserted. The count and the insert are one decision: on PostgreSQL a table lock that
 * conflicts with itself (not with reads) makes racing writers count one after another
 * (under READ COMMITTED each would miss the others' uncommitted rows); SQLite's write
 * transaction holds the database's write lock from its start. `audit` writes the event,
 * only when this call inserted the row.
 */
export function* insertIpRuleSteps(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  postgres: boolean,
  rule: StoredIpRule,
  maxRules: number | undefined,
  audit: (rule: StoredIpRule) => Steps<void>,
): Steps<{ rule: StoredIpRule; created: boolean } | undefined> {
  if (postgres) yield run(sql`lock table ip_rules in share row exclusive mode`.compile(db));
  const findRow = db.selectFrom("ip_rules").selectAll().where("cidr", "=", rule.cidr).compile();
  const existing = (yield first(findRow)) as Selectable<IpRulesTable> | undefined;
  if (existing !== undefined) return { rule: ipRuleFromRow(existing, codec), created: false };
  if (maxRules !== undefined) {
    const counted = (yield first(
      db
        .selectFrom("ip_rules")
        .select((eb) => eb.fn.countAll().as("count"))
        .compile(),
    )) as { count: DbInteger };
    if (codec.readInteger(counted.count) >= maxRules) return undefined;
  }
  // The unique index still decides if a writer that takes no lock (SQL by hand) raced.
  const inserted = (yield run(
    db
      .insertInto("ip_rules")
      .values({
        id: rule.id,
        cidr: rule.cidr,
        action: rule.action,
        reason: rule.reason,
        created_at: codec.date(rule.createdAt),
      })
      .onConflict((conflict) => conflict.column("cidr").doNothing())
      .compile(),
  )) as number;
  const row = (yield first(findRow)) as Selectable<IpRulesTable>;
  const stored = ipRuleFromRow(row, codec);
  const created = inserted === 1;
  if (created) yield* audit(stored);
  return { rule: stored, created };
}

/** `Store.deleteIpRule`'s statements: the rule deleted (its event written), or `undefined`. */
export function* deleteIpRuleSteps(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  id: string,
  audit: (rule: StoredIpRule) => Steps<void>,
): Steps<StoredIpRule | undefined> {
  // `RETURNING`: of two removals racing, only the one that deleted the row gets it.
  const rows = (yield all(
    db.deleteFrom("ip_rules").where("id", "=", id).returningAll().compile(),
  )) as Selectable<IpRulesTable>[];
  const row = rows[0];
  if (row === undefined) return undefined;
  const removed = ipRuleFromRow(row, codec);
  yield* audit(removed);
  return removed;
}

/** An `ip_rules` row as the rule (reads and exports alike). */
export function ipRuleFromRow(row: Selectable<IpRulesTable>, codec: ColumnCodec): StoredIpRule {
  return {
    id: row.id,
    cidr: row.cidr,
    action: row.action === "allow" ? "allow" : "deny",
    reason: row.reason,
    createdAt: codec.readDate(row.created_at),
  };
}
