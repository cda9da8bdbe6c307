import { withPostgresClient } from "@keyguard/testkit";

/**
 * Requests a PostgreSQL schema's usage table holds for a key: what a user's reports count
 * (every row stands for `request_count` requests).
 */
export async function storedRequests(schema: string, keyId: string): Promise<number> {
  const { rows } = await withPostgresClient(
    (client) =>
      client.query<{ total: string }>(
        "select coalesce(sum(request_count), 0) as total from usage_logs where key_id = $1",
        [keyId],
      ),
    schema,
  );
  return Number(rows[0]?.total);
}
