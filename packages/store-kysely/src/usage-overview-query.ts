import type { UsageOverviewHour } from "@keyguard/core";
import type { StoredUsageOverview } from "@keyguard/core/internal";
import { type Kysely, sql } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import type { DatabaseSchema, DbInteger } from "./database-schema.js";
import { hourOf } from "./usage-rollup.js";

/**
 * Every key's usage by hour and status class since `since`, and the busiest keys: raw rows
 * not yet rolled up plus rollups, summed the same way as one key's report
 * (`KyselyStore#usageByHour`), so the numbers do not change when rows are rolled up. Both
 * reads use the time indexes (`usage_logs_timestamp`, `usage_rollups_hour`).
 */
export async function readUsageOverview(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  dialect: "sqlite" | "postgres",
  since: Date,
  topKeys: number,
): Promise<StoredUsageOverview> {
  const from = codec.date(hourOf(since));
  const notRolledUp = sql.lit(dialect === "postgres" ? false : 0);
  const count = (value: DbInteger | null | undefined) => codec.readInteger(value ?? 0);
  // The hour as "YYYY-MM-DDTHH" text in UTC on both databases (literals, so the SELECT and
  // GROUP BY expressions are identical for PostgreSQL).
  const hour =
    dialect === "sqlite"
      ? sql<string>`substr(${sql.ref("timestamp")}, 1, 13)`
      : sql<string>`to_char(${sql.ref("timestamp")} at time zone 'UTC', ${sql.lit('YYYY-MM-DD"T"HH24')})`;
  const codeIn = (low: number, high: number) =>
    sql<DbInteger>`sum(case when ${sql.ref("status_code")} >= ${sql.lit(low)} and ${sql.ref("status_code")} < ${sql.lit(high)} then ${sql.ref("request_count")} else 0 end)`;
  const raw = await db
    .selectFrom("usage_logs")
    .select((eb) => [
      hour.as("hour"),
      eb.fn.sum<DbInteger>("request_count").as("total"),
      codeIn(200, 300).as("s2"),
      codeIn(300, 400).as("s3"),
      codeIn(400, 500).as("s4"),
      codeIn(429, 430).as("s429"),
      codeIn(500, 600).as("s5"),
    ])
    .where("timestamp", ">=", from)
    .where("rolled_up", "=", notRolledUp)
    .groupBy(hour)
    .execute();
  const classIn = (...classes: number[]) =>
    sql<DbInteger>`sum(case when ${sql.ref("status_class")} in (${sql.join(classes.map((c) => sql.lit(c)))}) then ${sql.ref("request_count")} else 0 end)`;
  const rolled = await db
    .selectFrom("usage_rollups")
    .select((eb) => [
      "hour",
      eb.fn.sum<DbInteger>("request_count").as("total"),
      classIn(200).as("s2"),
      classIn(300).as("s3"),
      classIn(400, 429).as("s4"),
      classIn(429).as("s429"),
      classIn(500).as("s5"),
    ])
    .where("hour", ">=", from)
    .groupBy("hour")
    .execute();
  const hours = new Map<number, UsageOverviewHour>();
  const add = (at: Date, row: Omit<(typeof raw)[number], "hour">) => {
    const before = hours.get(at.getTime());
    hours.set(at.getTime(), {
      hour: at,
      total: (before?.total ?? 0) + count(row.total),
      status2xx: (before?.status2xx ?? 0) + count(row.s2),
      status3xx: (before?.status3xx ?? 0) + count(row.s3),
      status4xx: (before?.status4xx ?? 0) + count(row.s4),
      status429: (before?.status429 ?? 0) + count(row.s429),
      status5xx: (before?.status5xx ?? 0) + count(row.s5),
    });
  };
  for (const row of raw) add(new Date(`${row.hour}:00:00.000Z`), row);
  for (const row of rolled) add(codec.readDate(row.hour), row);

  // The busiest keys over raw rows and rollups together, in one statement.
  const perKey = db
    .selectFrom("usage_logs")
    .select((eb) => ["key_id", eb.cast<DbInteger>("request_count", "bigint").as("request_count")])
    .where("timestamp", ">=", from)
    .where("rolled_up", "=", notRolledUp)
    .unionAll(
      db.selectFrom("usage_rollups").select(["key_id", "request_count"]).where("hour", ">=", from),
    );
  const top = await db
    .selectFrom(perKey.as("usage"))
    .select((eb) => ["key_id", eb.fn.sum<DbInteger>("request_count").as("requests")])
    .groupBy("key_id")
    .orderBy("requests", "desc")
    .orderBy("key_id")
    .limit(topKeys)
    .execute();
  return {
    hours: [...hours.values()].sort((a, b) => a.hour.getTime() - b.hour.getTime()),
    topKeys: top.map((row) => ({ keyId: row.key_id, requests: count(row.requests) })),
  };
}
