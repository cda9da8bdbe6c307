import type { Generated } from "kysely";

/**
 * The tables as Kysely sees them (keyguard-python's schema). Column values are typed loosely
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
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_notices: WebhookNoticesTable;
  audit_events: AuditEventsTable;
  ip_rules: IpRulesTable;
  credit_spending: CreditSpendingTable;
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
  /** Most of its keys' requests in flight at once (migration 0018), null for no cap. */
  concurrency: number | null;
  /** `shadow`, or null for `enforce` (migration 0018). */
  concurrency_mode: string | null;
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
  /** Most requests in flight at once (migration 0018), null for no cap. */
  concurrency: number | null;
  /** `shadow`, or null for `enforce` (migration 0018). */
  concurrency_mode: string | null;
  created_at: DbDate;
  expires_at: DbDate | null;
  last_used_at: DbDate | null;
  /** The quota this key spends: the first key of its rotation lineage (null: its own id). */
  quota_id: string | null;
  /** The successor's id, once this key was rotated. */
  replaced_by: string | null;
  /** JSON array of canonical CIDRs the key may be used from (migration 0016); null: anywhere. */
  allowed_ips: unknown;
  /** Prepaid credits (migration 0017): the grant of the period from `credits_epoch`; null: none. */
  credits_granted: DbInteger | null;
  credits_epoch: DbDate | null;
  /** The refill (`daily` / `monthly`), both null for none. */
  credits_refill_amount: DbInteger | null;
  credits_refill_interval: string | null;
}

/** Credits a rotation lineage spent per balance period (migration 0017). */
export interface CreditSpendingTable {
  quota_id: string;
  period_start: DbDate;
  spent: DbInteger;
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

/** Webhooks (migration 0013; see `webhooks/kysely-webhook-store.ts`). */
export interface WebhookEndpointsTable {
  id: string;
  url: string;
  /** JSON array of event types (or `*`). */
  events: string;
  /** The signing secret sealed under the server secret (`webhook-secret-box.ts` in core). */
  sealed_secret: string;
  created_at: DbDate;
}

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  /** The request body, exactly as every attempt sends and signs it. */
  body: string;
  /** `pending`, `delivered` or `failed`. */
  status: string;
  /** Claims so far (each claim is an attempt). */
  attempts: Generated<number>;
  created_at: DbDate;
  next_attempt_at: DbDate | null;
  lease_owner: string | null;
  lease_until: DbDate | null;
  delivered_at: DbDate | null;
  finished_at: DbDate | null;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  attempt: number;
  started_at: DbDate;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
}

export interface WebhookNoticesTable {
  kind: string;
  subject_id: string;
  period: DbDate;
  created_at: DbDate;
}

/** The audit log (migration 0012): one row per change, never updated. */
export interface AuditEventsTable {
  /** UUIDv7: id order is time order. */
  id: string;
  at: DbDate;
  /** `admin_api`, `cli` or `code`. */
  actor_type: string;
  actor_name: string | null;
  action: string;
  target_type: string;
  target_id: string;
  /** `{ before, after }` as JSON: `jsonb` in PostgreSQL, text in SQLite. */
  changes: unknown;
}

/** IP allow / deny rules (migration 0016): one per canonical CIDR. */
export interface IpRulesTable {
  id: string;
  cidr: string;
  /** `allow` or `deny`. */
  action: string;
  reason: string | null;
  created_at: DbDate;
}
