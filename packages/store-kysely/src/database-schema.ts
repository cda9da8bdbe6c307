/**
 * The tables as Kysely sees them (the seed's schema). Column values are typed loosely
 * where SQLite and PostgreSQL differ (dates are ISO text in SQLite and `timestamptz` in
 * PostgreSQL; booleans are 0/1 in SQLite); `ColumnCodec` converts at the boundary.
 */
export interface DatabaseSchema {
  organizations: OrganizationsTable;
  api_keys: ApiKeysTable;
  usage_logs: UsageLogsTable;
  ip_blocks: IpBlocksTable;
}

export type DbDate = Date | string;
export type DbBoolean = boolean | number;
export type DbInteger = number | string | bigint;

export interface OrganizationsTable {
  id: string;
  name: string;
  status: string;
  created_at: DbDate;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  label: string;
  prefix: string;
  key_hash: string;
  /** `KeyHashScheme` (migration 0011; `hmac-sha256` for every key made before it). */
  key_hash_scheme: string;
  is_active: DbBoolean;
  /** JSON array of strings: `jsonb` in PostgreSQL, text in SQLite. */
  scopes: unknown;
  rate_limit_per_minute: number;
  monthly_limit: DbInteger | null;
  created_at: DbDate;
  expires_at: DbDate | null;
  last_used_at: DbDate | null;
}

export interface UsageLogsTable {
  id: string;
  key_id: string;
  path: string;
  method: string;
  status_code: number;
  latency_ms: number;
  ip_address: string | null;
  timestamp: DbDate;
  /** Requests this row stands for (rows are aggregated per key, status, client and second). */
  request_count: number;
}

export interface IpBlocksTable {
  id: string;
  client: string;
  scope: string;
  path: string | null;
  reason: string;
  created_at: DbDate;
  until: DbDate;
}
