import type { KeyGuardEvent } from "@keyguard/core";
import type { AuditEventFilter } from "@keyguard/core/internal";
import type { CompiledQuery, Kysely } from "kysely";
import type { ColumnCodec, SqlDialect } from "../column-codec.js";
import type { DatabaseSchema } from "../database-schema.js";
import { auditEventRow, toAuditEvent } from "./audit-event-row.js";

/** The INSERT of one event, compiled to run as a step of a change's transaction. */
export function insertAuditEvent(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  event: KeyGuardEvent,
): CompiledQuery {
  return db.insertInto("audit_events").values(auditEventRow(event, codec)).compile();
}

/** Events in id order, filtered and paged in the database (see `AuditEventFilter`). */
export async function listAuditEvents(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  filter: AuditEventFilter,
): Promise<KeyGuardEvent[]> {
  let query = db.selectFrom("audit_events").selectAll().orderBy("id");
  if (filter.afterId !== undefined) query = query.where("id", ">", filter.afterId);
  if (filter.actions !== undefined) {
    if (filter.actions.length === 0) return [];
    query = query.where("action", "in", [...filter.actions]);
  }
  if (filter.targetId !== undefined) query = query.where("target_id", "=", filter.targetId);
  if (filter.since !== undefined) query = query.where("at", ">=", codec.date(filter.since));
  if (filter.until !== undefined) query = query.where("at", "<", codec.date(filter.until));
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  const rows = await query.execute();
  return rows.map((row) => toAuditEvent(row, codec));
}

export async function appendAuditEvent(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  event: KeyGuardEvent,
): Promise<void> {
  await db.executeQuery(insertAuditEvent(db, codec, event));
}

/**
 * Deletes up to `limit` of the oldest events before `before`, in one short statement
 * (retention runs in bounded steps; PostgreSQL: `SKIP LOCKED`, so servers doing it at
 * once take disjoint rows).
 */
export async function deleteAuditEventsBefore(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  dialect: SqlDialect,
  before: Date,
  limit: number,
): Promise<number> {
  let pick = db
    .selectFrom("audit_events")
    .select("id")
    .where("at", "<", codec.date(before))
    .orderBy("at")
    .limit(limit);
  if (dialect === "postgres") pick = pick.forUpdate().skipLocked();
  const result = await db.deleteFrom("audit_events").where("id", "in", pick).executeTakeFirst();
  return Number(result.numDeletedRows);
}
