import { createHash } from "node:crypto";
import { KeyGuardError, type Organization } from "@keyguard/core";
import type { ApiKey } from "@keyguard/core/internal";
import type { ImportedUsageRow, ImportRecords, ReadOnlyDatabase } from "@keyguard/store-kysely";
import { sql } from "kysely";

/** keyguard-python's tables and the columns its README documents (section Database Schema). */
const PYTHON_SCHEMA = {
  organizations: ["id", "name", "status", "created_at"],
  api_keys: [
    "id",
    "org_id",
    "label",
    "prefix",
    "key_hash",
    "is_active",
    "scopes",
    "rate_limit_per_minute",
    "monthly_limit",
    "created_at",
    "expires_at",
    "last_used_at",
  ],
  usage_logs: [
    "id",
    "key_id",
    "path",
    "method",
    "status_code",
    "latency_ms",
    "ip_address",
    "timestamp",
  ],
} as const;

type PythonTable = keyof typeof PYTHON_SCHEMA;

/** What was read, ready for `KyselyStore.importRecords`. */
export interface KeyguardPythonImport {
  readonly records: ImportRecords;
  /** Rows read from each table. */
  readonly read: {
    readonly organizations: number;
    readonly apiKeys: number;
    readonly usageLogs: number;
  };
  /** Usage log rows of keys no longer in `api_keys` (keyguard-python on SQLite does not enforce its foreign keys). */
  readonly orphanUsageLogs: number;
}

export interface ReadOptions {
  /** The source as the user named it, for messages. */
  readonly display: string;
  /** Rate limit for keys whose `rate_limit_per_minute` is empty (KeyGuard's default). */
  readonly defaultRateLimitPerMinute: number;
}

const PAGE = 5_000;
/** KeyGuard's column bounds (see migration 0001). */
const MAX_NAME = 200;
const MAX_PREFIX = 16;
const ID = /^[\x21-\x7e]{1,36}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Reads a keyguard-python database: checks it has keyguard-python's schema (and is not a
 * KeyGuard database), then turns its rows into KeyGuard's: keys keep their hash, marked
 * `keyguard-python`; usage logs (one row per request) become KeyGuard usage rows (one per
 * key, method, path, status, client and second, with a request count), each with an id
 * derived from its logs so a second import finds it already there.
 */
export async function readKeyguardPython(
  source: ReadOnlyDatabase,
  options: ReadOptions,
): Promise<KeyguardPythonImport> {
  await assertPythonSchema(source, options.display);
  const date = (column: string) =>
    source.dialect === "postgres" ? sql.raw(`${column}::text as ${column}`) : sql.raw(column);

  const organizations: Organization[] = [];
  for (const row of await readAll(source, "organizations", [
    sql.raw("id"),
    sql.raw("name"),
    sql.raw("status"),
    date("created_at"),
  ])) {
    const where = `organizations row ${printable(row.id)}`;
    organizations.push({
      id: id(row.id, where),
      name: text(row.name, `${where}: name`, MAX_NAME, false),
      status: status(row.status, where),
      createdAt: dateOf(row.created_at, `${where}: created_at`) ?? new Date(),
    });
  }
  const orgIds = new Set(organizations.map((org) => org.id));

  const apiKeys: ApiKey[] = [];
  for (const row of await readAll(source, "api_keys", [
    ...["id", "org_id", "label", "prefix", "key_hash", "is_active", "scopes"].map((c) =>
      sql.raw(c),
    ),
    sql.raw("rate_limit_per_minute"),
    sql.raw("monthly_limit"),
    date("created_at"),
    date("expires_at"),
    date("last_used_at"),
  ])) {
    const where = `api_keys row ${printable(row.id)}`;
    const orgId = id(row.org_id, `${where}: org_id`);
    if (!orgIds.has(orgId)) {
      throw invalid(`${where}: its organization ${orgId} is not in the organizations table`);
    }
    const keyHash = String(row.key_hash ?? "");
    if (!HEX_SHA256.test(keyHash)) {
      throw invalid(
        `${where}: key_hash is not a hex SHA-256 (64 hex digits) as keyguard-python stores them`,
      );
    }
    const keyId = id(row.id, where);
    apiKeys.push({
      id: keyId,
      quotaId: keyId, // keyguard-python has no rotation: each key spends its own quota
      replacedBy: null,
      orgId,
      label: text(row.label, `${where}: label`, MAX_NAME, true),
      prefix: text(row.prefix, `${where}: prefix`, MAX_PREFIX, false),
      keyHash,
      hashScheme: "keyguard-python",
      isActive:
        row.is_active === null || row.is_active === undefined
          ? true
          : booleanOf(row.is_active, `${where}: is_active`),
      scopes: scopes(row.scopes, `${where}: scopes`),
      rateLimitPerMinute:
        row.rate_limit_per_minute === null
          ? options.defaultRateLimitPerMinute
          : positiveInteger(row.rate_limit_per_minute, `${where}: rate_limit_per_minute`),
      monthlyLimit:
        row.monthly_limit === null
          ? null
          : positiveInteger(row.monthly_limit, `${where}: monthly_limit`),
      createdAt: dateOf(row.created_at, `${where}: created_at`) ?? new Date(),
      expiresAt: dateOf(row.expires_at, `${where}: expires_at`),
      lastUsedAt: dateOf(row.last_used_at, `${where}: last_used_at`),
    });
  }
  const keyIds = new Set(apiKeys.map((key) => key.id));

  // Usage logs, read a page at a time and folded into KeyGuard's aggregated rows.
  interface Group {
    firstLogId: string;
    row: Omit<ImportedUsageRow, "id" | "requestCount" | "latencyMs">;
    count: number;
    latencySum: number;
  }
  const groups = new Map<string, Group>();
  let usageLogs = 0;
  let orphanUsageLogs = 0;
  let after: string | undefined;
  for (;;) {
    let query = source.db
      .selectFrom("usage_logs")
      .select([
        sql.raw("id").as("id"),
        sql.raw("key_id").as("key_id"),
        sql.raw("path").as("path"),
        sql.raw("method").as("method"),
        sql.raw("status_code").as("status_code"),
        sql.raw("latency_ms").as("latency_ms"),
        sql.raw("ip_address").as("ip_address"),
        (source.dialect === "postgres" ? sql.raw("timestamp::text") : sql.raw("timestamp")).as(
          "timestamp",
        ),
      ])
      .orderBy(sql.raw("id"))
      .limit(PAGE);
    if (after !== undefined) query = query.where(sql.raw("id"), ">", after);
    const rows = (await query.execute()) as Record<string, unknown>[];
    if (rows.length === 0) break;
    for (const row of rows) {
      usageLogs++;
      const logId = String(row.id);
      const where = `usage_logs row ${printable(logId)}`;
      const keyId = String(row.key_id ?? "");
      if (!keyIds.has(keyId)) {
        orphanUsageLogs++;
        continue;
      }
      const at = dateOf(row.timestamp, `${where}: timestamp`);
      if (at === null) throw invalid(`${where}: timestamp is empty`);
      const second = Math.floor(at.getTime() / 1000) * 1000;
      const fields = {
        keyId,
        path: text(row.path, `${where}: path`, 8_192, true),
        method: text(row.method, `${where}: method`, 16, true) || "GET",
        statusCode: integer(row.status_code, `${where}: status_code`),
        ipAddress:
          row.ip_address === null || row.ip_address === undefined
            ? null
            : text(row.ip_address, `${where}: ip_address`, 64, true),
      };
      const groupKey = JSON.stringify([
        fields.keyId,
        fields.method,
        fields.path,
        fields.statusCode,
        fields.ipAddress,
        second,
      ]);
      const latency = row.latency_ms === null ? 0 : integer(row.latency_ms, `${where}: latency_ms`);
      const group = groups.get(groupKey);
      if (group === undefined) {
        groups.set(groupKey, {
          firstLogId: logId,
          row: { ...fields, timestamp: at },
          count: 1,
          latencySum: latency,
        });
      } else {
        group.count++;
        group.latencySum += latency;
        if (logId < group.firstLogId) group.firstLogId = logId;
        if (at > group.row.timestamp) group.row = { ...group.row, timestamp: at };
      }
    }
    after = String(rows[rows.length - 1]?.id);
    if (rows.length < PAGE) break;
  }
  const usage: ImportedUsageRow[] = [...groups.values()].map((group) => ({
    ...group.row,
    id: derivedUsageId(group.row.timestamp.getTime(), group.firstLogId),
    latencyMs: group.latencySum / group.count,
    requestCount: group.count,
  }));
  return {
    records: { organizations, apiKeys, usage },
    read: { organizations: organizations.length, apiKeys: apiKeys.length, usageLogs },
    orphanUsageLogs,
  };
}

async function readAll(
  source: ReadOnlyDatabase,
  table: PythonTable,
  columns: ReturnType<typeof sql.raw>[],
): Promise<Record<string, unknown>[]> {
  const { rows } = await sql<
    Record<string, unknown>
  >`select ${sql.join(columns)} from ${sql.table(table)} order by id`.execute(source.db);
  return rows;
}

/** Refuses, in one line, a database that is not keyguard-python's (or is already KeyGuard's). */
async function assertPythonSchema(source: ReadOnlyDatabase, display: string): Promise<void> {
  const columnsOf = async (table: string): Promise<Set<string>> => {
    const { rows } =
      source.dialect === "sqlite"
        ? await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(
            source.db,
          )
        : await sql<{ name: string }>`select column_name as name from information_schema.columns
            where table_schema = current_schema() and table_name = ${table}`.execute(source.db);
    return new Set(rows.map((row) => row.name));
  };
  if ((await columnsOf("keyguard_migration")).size > 0) {
    throw invalid(
      `${display} is a KeyGuard database, not keyguard-python's (it has KeyGuard's migration table): copy it with keyguard copy-db instead`,
    );
  }
  for (const [table, required] of Object.entries(PYTHON_SCHEMA)) {
    const columns = await columnsOf(table);
    if (columns.size === 0) {
      throw invalid(`${display} is not a keyguard-python database: it has no table ${table}`);
    }
    const missing = required.filter((column) => !columns.has(column));
    if (missing.length > 0) {
      throw invalid(
        `${display} is not a keyguard-python database: table ${table} has no column ${missing.join(", ")}`,
      );
    }
  }
}

/**
 * A UUIDv7-shaped id (the form KeyGuard's usage rows have: time first) whose random part
 * comes from the first log row of the group, so the same logs always give the same id.
 */
function derivedUsageId(at: number, seed: string): string {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(12, "0").slice(-12);
  const h = createHash("sha256").update(`keyguard-python usage ${seed}`).digest("hex");
  const variant = (8 + (Number.parseInt(h[3] as string, 16) & 3)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(7, 19)}`;
}

function invalid(message: string): KeyGuardError {
  return new KeyGuardError("invalid_input", message);
}

function printable(value: unknown): string {
  const text = String(value ?? "");
  return /^[\x21-\x7e]{1,64}$/.test(text) ? text : JSON.stringify(text.slice(0, 64));
}

function id(value: unknown, where: string): string {
  const text = typeof value === "string" ? value : value == null ? "" : String(value);
  if (!ID.test(text)) throw invalid(`${where}: the id must be 1 to 36 visible characters`);
  return text;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

function text(value: unknown, where: string, max: number, allowEmpty: boolean): string {
  const result = value == null ? "" : String(value);
  if (!allowEmpty && result === "") throw invalid(`${where} is empty`);
  if (result.length > max) throw invalid(`${where} is longer than KeyGuard's ${max} characters`);
  if (CONTROL.test(result)) throw invalid(`${where} holds a control character`);
  return result;
}

function status(value: unknown, where: string): "active" | "suspended" {
  if (value == null || value === "active") return "active";
  if (value === "suspended") return "suspended";
  throw invalid(`${where}: status must be active or suspended (got ${printable(value)})`);
}

function booleanOf(value: unknown, where: string): boolean {
  if (value === true || value === 1 || value === "1" || value === "t" || value === "true")
    return true;
  if (value === false || value === 0 || value === "0" || value === "f" || value === "false")
    return false;
  throw invalid(`${where} is not a boolean (got ${printable(value)})`);
}

function integer(value: unknown, where: string): number {
  const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw invalid(`${where} is not a whole number (got ${printable(value)})`);
  }
  return n;
}

function positiveInteger(value: unknown, where: string): number {
  const n = integer(typeof value === "bigint" ? Number(value) : value, where);
  if (n <= 0) throw invalid(`${where} must be greater than 0 (got ${n})`);
  return n;
}

function scopes(value: unknown, where: string): string[] {
  if (value == null) return [];
  let parsed = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw invalid(`${where} is not JSON`);
    }
  }
  if (!Array.isArray(parsed) || !parsed.every((scope) => typeof scope === "string")) {
    throw invalid(`${where} is not a list of strings`);
  }
  return parsed as string[];
}

const DATE =
  /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A DATETIME as SQLAlchemy writes it (`2026-04-22 14:30:00.123456`, naive: UTC, as
 * keyguard-python's `datetime.utcnow()`), or PostgreSQL's text for `timestamp` /
 * `timestamptz`. Empty is `null`.
 */
function dateOf(value: unknown, where: string): Date | null {
  if (value == null || value === "") return null;
  if (value instanceof Date) return value;
  const match = DATE.exec(String(value).trim());
  if (match === null) throw invalid(`${where} is not a date (got ${printable(value)})`);
  const [, day, minute, second = "00", fraction = "", zone] = match;
  let offset = zone === undefined || zone.toUpperCase() === "Z" ? "Z" : zone;
  if (/^[+-]\d{2}$/.test(offset)) offset = `${offset}:00`;
  else if (/^[+-]\d{4}$/.test(offset)) offset = `${offset.slice(0, 3)}:${offset.slice(3)}`;
  const millis = fraction.padEnd(3, "0").slice(0, 3);
  const parsed = new Date(`${day}T${minute}:${second}.${millis}${offset}`);
  if (Number.isNaN(parsed.getTime()))
    throw invalid(`${where} is not a date (got ${printable(value)})`);
  return parsed;
}
