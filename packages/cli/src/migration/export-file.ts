import { type KeyCredits, KeyGuardError, type RefillInterval } from "@keyguard/core";
import {
  fromConcurrencyWire,
  fromLimitsWire,
  KEY_HASH_SCHEMES,
  MAX_CONCURRENCY,
  MAX_CREDITS,
  MAX_IP_RULES,
  MAX_KEY_ALLOWED_IPS,
  MAX_LIMITS,
  MAX_WINDOW_SECONDS,
  MIN_CONCURRENCY,
  MIN_WINDOW_SECONDS,
  POLICY_NAME_PATTERN,
  parseAllowedIps,
  parseCidr,
  REFILL_INTERVALS,
  RESERVED_POLICY_NAMES,
  storedCreditsJson,
  toConcurrencyWire,
  toLimitsWire,
} from "@keyguard/core/internal";
import type { ImportRecords } from "@keyguard/store-kysely";
import { findNodeAtLocation, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { z } from "zod";

/**
 * KeyGuard's export file, version 1 (docs/export-format.md): JSON, one record per line.
 * Keys are there by their hash and its scheme, never raw, so the file is for backups and
 * for moving keys between KeyGuard databases or in from another system. Keys hashed with
 * plain SHA-256 of the raw key (hex, or base64url / base64: how Unkey and better-auth
 * store them) are accepted as `sha256-hex` / `sha256-base64url` and re-stored under
 * KeyGuard's HMAC on first use.
 */
export const EXPORT_FORMAT = "keyguard-export";
export const EXPORT_VERSION = 1;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
const id = z.string().regex(/^[\x21-\x7e]{1,36}$/, "must be 1 to 36 visible ASCII characters");
const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !CONTROL.test(value), "must not hold control characters");
const time = z.iso.datetime({
  offset: true,
  error: "must be an ISO 8601 date-time (2026-04-22T14:30:00Z)",
});
const positive = z
  .int("must be a whole number")
  .positive("must be greater than 0")
  .max(Number.MAX_SAFE_INTEGER);

/**
 * A named window, as the admin API spells it (`{ name, limit, window_seconds, algorithm?,
 * mode? }`), with core's bounds: a file cannot hold a window the API would refuse.
 */
const limitEntry = z.strictObject({
  name: z.string().regex(POLICY_NAME_PATTERN, "must be 1-32 of a-z 0-9 _ -"),
  limit: z
    .int("must be a whole number")
    .positive("must be greater than 0")
    .max(1_000_000_000, "must be at most 1,000,000,000"),
  window_seconds: z
    .int("must be whole seconds")
    .min(MIN_WINDOW_SECONDS, `must be at least ${MIN_WINDOW_SECONDS} second`)
    .max(MAX_WINDOW_SECONDS, `must be at most 31 days (${MAX_WINDOW_SECONDS} seconds)`),
  algorithm: z.enum(["sliding-window-log", "sliding-window-counter", "gcra"]).optional(),
  mode: z.enum(["enforce", "shadow"]).optional(),
});

/** An organization's windows: at most MAX_LIMITS, unique names. Absent in older files. */
const organizationLimits = z
  .array(limitEntry)
  .max(MAX_LIMITS, `must hold at most ${MAX_LIMITS} windows`)
  .refine(
    (limits) => new Set(limits.map((limit) => limit.name)).size === limits.length,
    "must have unique names",
  )
  .default([]);

/** A key's: the same, and none named like the key's own minute and month. */
const keyLimits = organizationLimits.refine(
  (limits) => limits.every((limit) => !RESERVED_POLICY_NAMES.includes(limit.name)),
  `may not be named ${RESERVED_POLICY_NAMES.join(", ")} (rate_limit_per_minute, monthly_limit, concurrency and credits are those)`,
);

/**
 * A concurrency cap as the admin API writes it: `concurrency` (requests in flight at once,
 * core's bounds) and `concurrency_mode`; both null (the default): no cap.
 */
const concurrencyFields = {
  concurrency: z
    .int("must be a whole number")
    .min(MIN_CONCURRENCY, `must be at least ${MIN_CONCURRENCY} (or null for no cap)`)
    .max(MAX_CONCURRENCY, `must be at most ${MAX_CONCURRENCY}`)
    .nullable()
    .default(null),
  concurrency_mode: z.enum(["enforce", "shadow"]).nullable().default(null),
};

/** `concurrency_mode` says how a cap works: without one it means nothing. */
function modeNeedsCap(
  record: { concurrency: number | null; concurrency_mode: string | null },
  context: z.core.$RefinementCtx,
): void {
  if (record.concurrency_mode !== null && record.concurrency === null) {
    context.addIssue({
      code: "custom",
      path: ["concurrency_mode"],
      message: "needs a concurrency (null without a cap)",
    });
  }
}

const creditCount = (min: 0 | 1) =>
  z
    .int("must be a whole number")
    .min(min, min === 0 ? "must be 0 or more" : "must be greater than 0")
    .max(MAX_CREDITS, `must be at most ${MAX_CREDITS}`);

/**
 * A key's prepaid credits as stored: `granted` credits for the balance period from
 * `epoch`, reset to `refill.amount` at each `refill.interval` boundary. What was spent is
 * in `credit_spending`. `null` (the default): no credits.
 */
const credits = z
  .strictObject({
    granted: creditCount(0),
    epoch: time.optional(),
    refill: z
      .strictObject({
        amount: creditCount(1),
        interval: z.enum(REFILL_INTERVALS as [RefillInterval, ...RefillInterval[]]),
      })
      .nullable()
      .default(null),
  })
  .nullable()
  .default(null);

const organization = z
  .strictObject({
    id,
    name: text(200).min(1, "must not be empty"),
    status: z.enum(["active", "suspended"]).default("active"),
    created_at: time.optional(),
    limits: organizationLimits,
    ...concurrencyFields,
  })
  .superRefine(modeNeedsCap);

const HEX = /^[0-9a-fA-F]{64}$/;
const BASE64URL = /^[A-Za-z0-9_-]{43}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

const apiKey = z
  .strictObject({
    id,
    organization_id: id,
    label: text(200).default(""),
    prefix: text(16).default(""),
    key_hash: z.string(),
    hash_scheme: z.enum(KEY_HASH_SCHEMES as [string, ...string[]]),
    is_active: z.boolean().default(true),
    scopes: z.array(text(100)).max(100).default([]),
    rate_limit_per_minute: positive.default(60),
    monthly_limit: positive.nullable().default(null),
    limits: keyLimits,
    ...concurrencyFields,
    created_at: time.optional(),
    expires_at: time.nullable().default(null),
    last_used_at: time.nullable().default(null),
    // Rotation lineage: the quota the key spends (its own id unless made by rotating
    // another) and its successor once rotated. Optional: files from other systems lack them.
    quota_id: id.optional(),
    replaced_by: id.nullable().default(null),
    // Where the key may be used from (canonical CIDRs); null or absent: anywhere.
    allowed_ips: z
      .array(z.string().refine(isCidr, "must be an IP address or CIDR range"))
      .max(MAX_KEY_ALLOWED_IPS)
      .nullable()
      .default(null),
    credits,
  })
  .superRefine((key, context) => {
    modeNeedsCap(key, context);
    const base64 = key.hash_scheme === "sha256-base64url";
    const ok = base64
      ? BASE64URL.test(key.key_hash) || BASE64.test(key.key_hash)
      : HEX.test(key.key_hash);
    if (!ok) {
      context.addIssue({
        code: "custom",
        path: ["key_hash"],
        message: base64
          ? "must be a SHA-256 in base64url (43 characters) or base64 (44, ending in =) for hash_scheme sha256-base64url"
          : `must be 64 hex digits for hash_scheme ${key.hash_scheme}`,
      });
    }
  });

const usageRow = z.strictObject({
  id,
  key_id: id,
  path: text(8_192),
  method: text(16).min(1),
  status_code: z.int().min(100).max(599),
  latency_ms: z.number().min(0).max(86_400_000),
  ip_address: text(64).nullable(),
  timestamp: time,
  request_count: positive.default(1),
  // Whether the requests counted toward the monthly quota (refusals did not).
  // Absent in older files: every status but 429 counted, the rule such rows were counted by.
  charged: z.boolean().optional(),
  // Already summed into its hour's rollup (which then counts it). Absent: not rolled up.
  rolled_up: z.boolean().default(false),
});

/** The status classes a rollup keeps: the hundreds, with 429 apart from the other 4xx. */
const STATUS_CLASSES = [100, 200, 300, 400, 429, 500];

/**
 * Usage summed per key, UTC hour and status class: all that is left of usage whose rows
 * retention deleted, so without these a restored database would have lost it.
 */
const usageRollup = z
  .strictObject({
    key_id: id,
    hour: time.refine(
      (value) => new Date(value).getTime() % 3_600_000 === 0,
      "must be the start of an hour (minutes, seconds and milliseconds 0, in UTC)",
    ),
    status_class: z
      .int("must be a whole number")
      .refine(
        (value) => STATUS_CLASSES.includes(value),
        `must be one of ${STATUS_CLASSES.join(", ")}`,
      ),
    request_count: positive,
    charged_count: z.int("must be a whole number").min(0, "must be 0 or more"),
  })
  .superRefine((rollup, context) => {
    if (rollup.charged_count > rollup.request_count) {
      context.addIssue({
        code: "custom",
        path: ["charged_count"],
        message: "must be at most request_count",
      });
    }
  });

/** Credits a rotation lineage (`quota_id`, as its keys have it) spent in one balance period. */
const creditSpendingRow = z.strictObject({
  quota_id: id,
  period_start: time,
  spent: creditCount(0),
});

const ipBlock = z.strictObject({
  id,
  client: text(64).min(1),
  scope: z.enum(["global", "path"]),
  path: text(8_192).nullable().default(null),
  reason: text(200),
  created_at: time,
  until: time,
});

const ipRule = z.strictObject({
  id,
  cidr: z.string().refine(isCidr, "must be an IP address or CIDR range"),
  action: z.enum(["allow", "deny"]),
  reason: text(200).nullable().default(null),
  created_at: time.optional(),
});

export const exportFileSchema = z.strictObject({
  format: z.literal(EXPORT_FORMAT, `must be "${EXPORT_FORMAT}"`),
  version: z.literal(
    EXPORT_VERSION,
    `must be ${EXPORT_VERSION} (this KeyGuard reads version ${EXPORT_VERSION})`,
  ),
  exported_at: time.optional(),
  organizations: z.array(organization).default([]),
  api_keys: z.array(apiKey).default([]),
  usage: z.array(usageRow).default([]),
  usage_rollups: z.array(usageRollup).default([]),
  credit_spending: z.array(creditSpendingRow).default([]),
  ip_blocks: z.array(ipBlock).default([]),
  ip_rules: z
    .array(ipRule)
    .max(MAX_IP_RULES, `must hold at most ${MAX_IP_RULES} rules`)
    .default([]),
});

/** Writes records as an export file: valid JSON with one record per line (diffable, greppable). */
export function writeExportFile(records: Required<ImportRecords>, exportedAt: Date): string {
  const iso = (date: Date | null) => (date === null ? null : date.toISOString());
  const section = (name: string, rows: readonly unknown[], last = false) =>
    `"${name}": [${rows.length === 0 ? "" : `\n${rows.map((row) => JSON.stringify(row)).join(",\n")}\n`}]${last ? "" : ","}\n`;
  return (
    `{\n"format": "${EXPORT_FORMAT}",\n"version": ${EXPORT_VERSION},\n"exported_at": "${exportedAt.toISOString()}",\n` +
    section(
      "organizations",
      records.organizations.map((org) => ({
        id: org.id,
        name: org.name,
        status: org.status,
        created_at: iso(org.createdAt),
        limits: toLimitsWire(org.limits),
        ...toConcurrencyWire(org.concurrency),
      })),
    ) +
    section(
      "api_keys",
      records.apiKeys.map((key) => ({
        id: key.id,
        organization_id: key.orgId,
        label: key.label,
        prefix: key.prefix,
        key_hash: key.keyHash,
        hash_scheme: key.hashScheme ?? "hmac-sha256",
        is_active: key.isActive,
        scopes: key.scopes,
        rate_limit_per_minute: key.rateLimitPerMinute,
        monthly_limit: key.monthlyLimit,
        limits: toLimitsWire(key.limits),
        ...toConcurrencyWire(key.concurrency),
        created_at: iso(key.createdAt),
        expires_at: iso(key.expiresAt),
        last_used_at: iso(key.lastUsedAt),
        quota_id: key.quotaId,
        replaced_by: key.replacedBy,
        allowed_ips: key.allowedIps ?? null,
        credits: creditsWire(key.credits ?? null),
      })),
    ) +
    section(
      "usage",
      records.usage.map((row) => ({
        id: row.id,
        key_id: row.keyId,
        path: row.path,
        method: row.method,
        status_code: row.statusCode,
        latency_ms: row.latencyMs,
        ip_address: row.ipAddress,
        timestamp: iso(row.timestamp),
        request_count: row.requestCount,
        charged: row.charged ?? true,
        rolled_up: row.rolledUp ?? false,
      })),
    ) +
    section(
      "usage_rollups",
      records.usageRollups.map((row) => ({
        key_id: row.keyId,
        hour: iso(row.hour),
        status_class: row.statusClass,
        request_count: row.requestCount,
        charged_count: row.chargedCount,
      })),
    ) +
    section(
      "credit_spending",
      records.creditSpending.map((row) => ({
        quota_id: row.quotaId,
        period_start: iso(row.periodStart),
        spent: row.spent,
      })),
    ) +
    section(
      "ip_blocks",
      records.ipBlocks.map((block) => ({
        id: block.id,
        client: block.client,
        scope: block.scope,
        path: block.path,
        reason: block.reason,
        created_at: iso(block.createdAt),
        until: iso(block.until),
      })),
    ) +
    section(
      "ip_rules",
      records.ipRules.map((rule) => ({
        id: rule.id,
        cidr: rule.cidr,
        action: rule.action,
        reason: rule.reason,
        created_at: iso(rule.createdAt),
      })),
      true,
    ) +
    "}\n"
  );
}

/**
 * Reads an export file, refusing a malformed one with the line and field at fault:
 * `keys.json line 14: api_keys[3].key_hash must be 64 hex digits for hash_scheme sha256-hex`.
 */
export function readExportFile(content: string, name: string, now: Date): ImportRecords {
  const errors: ParseError[] = [];
  const tree = parseTree(content, errors, { disallowComments: true, allowTrailingComma: false });
  const lineOf = (offset: number) => content.slice(0, offset).split("\n").length;
  const firstError = errors[0];
  if (firstError !== undefined || tree === undefined) {
    const where = firstError === undefined ? "" : ` line ${lineOf(firstError.offset)}`;
    const why =
      firstError === undefined
        ? "it is empty"
        : `not valid JSON (${printParseErrorCode(firstError.error)})`;
    throw new KeyGuardError("invalid_input", `${name}${where}: ${why}`);
  }
  const parsed = exportFileSchema.safeParse(JSON.parse(content));
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    let path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
    let node = findNodeAtLocation(tree, path);
    const missing = node === undefined;
    // A missing field: the line of the record that lacks it.
    while (node === undefined && path.length > 0) {
      path = path.slice(0, -1);
      node = findNodeAtLocation(tree, path);
    }
    const field = issue.path
      .map((part, index) =>
        typeof part === "number" ? `[${part}]` : `${index === 0 ? "" : "."}${String(part)}`,
      )
      .join("");
    const message =
      issue.code === "unrecognized_keys"
        ? `has unknown field(s) ${issue.keys.join(", ")}`
        : // A field that is not there at all: an absent enum (`hash_scheme`) is an
          // invalid_value to zod, but to the reader it is missing like any other.
          (issue.code === "invalid_type" || issue.code === "invalid_value") && missing
          ? "is missing"
          : issue.message;
    throw new KeyGuardError(
      "invalid_input",
      `${name} line ${lineOf(node?.offset ?? 0)}: ${field === "" ? "" : `${field} `}${message}`,
    );
  }
  const file = parsed.data;
  const date = (value: string | null | undefined) => (value == null ? null : new Date(value));
  return {
    organizations: file.organizations.map((org) => ({
      id: org.id,
      name: org.name,
      status: org.status,
      createdAt: date(org.created_at) ?? now,
      ...limitsField(org.limits),
      concurrency: concurrencyOf(org),
    })),
    apiKeys: file.api_keys.map((key) => ({
      id: key.id,
      orgId: key.organization_id,
      label: key.label,
      prefix: key.prefix,
      keyHash: normaliseHash(key.key_hash, key.hash_scheme),
      hashScheme: key.hash_scheme as (typeof KEY_HASH_SCHEMES)[number],
      isActive: key.is_active,
      scopes: key.scopes,
      rateLimitPerMinute: key.rate_limit_per_minute,
      monthlyLimit: key.monthly_limit,
      ...limitsField(key.limits),
      concurrency: concurrencyOf(key),
      credits: creditsOf(key.credits, now),
      createdAt: date(key.created_at) ?? now,
      expiresAt: date(key.expires_at),
      lastUsedAt: date(key.last_used_at),
      quotaId: key.quota_id ?? key.id,
      replacedBy: key.replaced_by,
      ...allowedIpsField(key.allowed_ips),
    })),
    usage: file.usage.map((row) => ({
      id: row.id,
      keyId: row.key_id,
      path: row.path,
      method: row.method,
      statusCode: row.status_code,
      latencyMs: row.latency_ms,
      ipAddress: row.ip_address,
      timestamp: new Date(row.timestamp),
      requestCount: row.request_count,
      charged: row.charged ?? row.status_code !== 429,
      rolledUp: row.rolled_up,
    })),
    usageRollups: file.usage_rollups.map((row) => ({
      keyId: row.key_id,
      hour: new Date(row.hour),
      statusClass: row.status_class,
      requestCount: row.request_count,
      chargedCount: row.charged_count,
    })),
    creditSpending: file.credit_spending.map((row) => ({
      quotaId: row.quota_id,
      periodStart: new Date(row.period_start),
      spent: row.spent,
    })),
    ipBlocks: file.ip_blocks.map((block) => ({
      id: block.id,
      client: block.client,
      scope: block.scope,
      path: block.scope === "path" ? block.path : null,
      reason: block.reason,
      createdAt: new Date(block.created_at),
      until: new Date(block.until),
    })),
    ipRules: file.ip_rules.map((rule) => ({
      id: rule.id,
      cidr: parseCidr(rule.cidr).cidr, // stored canonical: one rule per range
      action: rule.action,
      reason: rule.reason,
      createdAt: date(rule.created_at) ?? now,
    })),
  };
}

/** A record's `limits` as the field: absent when there are none, as the store reads it. */
function limitsField(limits: Parameters<typeof fromLimitsWire>[0]) {
  return limits.length === 0 ? {} : { limits: fromLimitsWire(limits) };
}

/** A record's `concurrency` / `concurrency_mode` as the cap (null: none). */
function concurrencyOf(record: {
  concurrency: number | null;
  concurrency_mode: "enforce" | "shadow" | null;
}) {
  return fromConcurrencyWire(record.concurrency, record.concurrency_mode ?? undefined) ?? null;
}

/** A key's credits as written: the stored grant, its epoch and refill, exactly. */
function creditsWire(credits: KeyCredits | null) {
  return credits === null ? null : storedCreditsJson(credits);
}

/** A record's `credits` as the key's (an epoch left out: the import's time). */
function creditsOf(record: z.output<typeof credits>, now: Date): KeyCredits | null {
  if (record === null) return null;
  return {
    granted: record.granted,
    epoch: record.epoch === undefined ? now : new Date(record.epoch),
    refill: record.refill,
  };
}

/** Hashes as KeyGuard compares them: hex in lower case, SHA-256 base64 as base64url. */
function normaliseHash(hash: string, scheme: string): string {
  if (scheme !== "sha256-base64url") return hash.toLowerCase();
  return hash.replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}

/** A record's `allowed_ips` as a key's field: canonical, absent when there are none. */
function allowedIpsField(list: readonly string[] | null): { allowedIps?: readonly string[] } {
  const allowedIps = list === null ? null : parseAllowedIps(list, "allowed_ips");
  return allowedIps === null ? {} : { allowedIps };
}

function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}
