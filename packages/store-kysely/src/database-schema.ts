import type { Generated } from "kysely";

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
  usage_rollups: UsageRollupsTable;
  secret_fingerprints: SecretFingerprintsTable;
}

export type DbDate = Date | string;
export type DbBoolean = boolean | number;
export type DbInteger = number | string | bigint;

export interface OrganizationsTable {
  id: string;
  name: string;
  status: string;
  created_at: DbDate;
  /** Named windows shared by the organization's keys: JSON text (migration 0015), null for none. */
  limits: string | null;
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
  /** Named windows: JSON text (migration 0015), null for none. */
  limits: string | null;
  created_at: DbDate;
  expires_at: DbDate | null;
  last_used_at: DbDate | null;
  /** The quota this key spends: the first key of its rotation lineage (null: its own id). */
  quota_id: string | null;
  /** The successor's id, once this key was rotated. */
  replaced_by: string | null;
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
  /** Whether these requests were charged to the key's monthly quota. */
  charged: DbBoolean;
  /** Whether the row has been added to `usage_rollups` (reads then count the rollup). */
  rolled_up: Generated<DbBoolean>;
}

/** Usage summed per key, UTC hour and status class (see the 0006 migration). */
export interface UsageRollupsTable {
  key_id: string;
  /** The hour's start. */
  hour: DbDate;
  /** 100, 200, 300, 400, 429 (apart from the other 4xx), 500, ... (`statusClassOf`). */
  status_class: number;
  request_count: DbInteger;
  charged_count: DbInteger;
}

export interface IpBlocksTable {
  id: string;
  client: string;
  scope: string;
  path: string | null;
  reason: string;
  /** Made by KeyGuard itself (failed authentications, a lockout), not by an operator. */
  automatic: DbBoolean;
  created_at: DbDate;
  until: DbDate;
}

export interface SecretFingerprintsTable {
  fingerprint: string;
  /** `current` (one row at most) or `retired`. */
  role: string;
  since: DbDate;
  retired_at: DbDate | null;
}
