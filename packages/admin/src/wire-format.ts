import type {
  ApiKeyInfo,
  CreditBalance,
  EventAction,
  IpBlock,
  KeyGuardEvent,
  KeyGuardStats,
  KeyUsage,
  Organization,
  PolicyStatus,
  UsageOverview,
} from "@keyguard/core";
import {
  EVENT_ACTION_NAMES,
  EVENT_ACTOR_TYPES,
  EVENT_TARGET_TYPES,
  toApiKeyWire,
  toAuditEventWire,
  toCreditsWire,
  toIpBlockWire,
  toOrganizationWire,
  toPolicyStatusWire,
  toStatsWire,
  toUsageOverviewWire,
  toUsageWire,
} from "@keyguard/core/internal";
import { z } from "zod";

/**
 * What the admin API sends (and the CLI's `--json` prints): keyguard-python's snake_case field
 * names, ISO 8601 times, and never a key's hash (the raw key appears only in the creation
 * and rotation responses). Each schema documents the wire format in the OpenAPI document;
 * core's converters build it.
 */

const timestamp = z.iso.datetime({ offset: true }).describe("ISO 8601 time (UTC)");

export const limitWire = z.object({
  name: z.string(),
  limit: z.int(),
  window_seconds: z.int(),
  algorithm: z.enum(["sliding-window-log", "sliding-window-counter", "gcra"]).optional(),
  mode: z.enum(["enforce", "shadow"]).optional(),
});

export const creditRefillWire = z.object({
  amount: z.int().describe("The balance is reset to this at each interval boundary"),
  interval: z.enum(["daily", "monthly"]).describe("UTC midnight, or the 1st of the month UTC"),
});

export const creditsWire = z.object({
  remaining: z
    .int()
    .nullable()
    .describe(
      "Credits left in the current period: the live count where the server has it, else the store's (written in usage batches)",
    ),
  period_credits: z
    .int()
    .describe("The current period's credits: the grant (with top-ups) or the refill"),
  period_start: timestamp,
  refills_at: timestamp.nullable().describe("The next refill; null without one"),
  refill: creditRefillWire.nullable(),
});

export const organizationWire = z
  .object({
    id: z.uuid(),
    name: z.string(),
    status: z.enum(["active", "suspended"]),
    created_at: timestamp,
    limits: z.array(limitWire).describe("Windows shared by all of the organization's keys"),
    concurrency: z
      .int()
      .nullable()
      .describe(
        "Most requests in flight at once across all of the organization's keys (the policy org.concurrency); null = no cap",
      ),
    concurrency_mode: z
      .enum(["enforce", "shadow"])
      .nullable()
      .describe("enforce, or shadow (never refuses, counts would-be refusals); null without a cap"),
  })
  .meta({ id: "Organization" });

export const listedOrganizationWire = organizationWire
  .extend({
    keys: z
      .object({
        total: z.int().describe("Keys of any state"),
        active: z.int().describe("Keys neither revoked nor expired"),
      })
      .nullable()
      .describe("The organization's keys, counted; null when the database cannot count them"),
  })
  .meta({ id: "ListedOrganization" });

export const apiKeyWire = z
  .object({
    id: z.uuid(),
    org_id: z.uuid(),
    org_name: z.string(),
    label: z.string(),
    prefix: z.string().describe("Display prefix, e.g. kg_live_4Gk9: the only part of the key kept"),
    status: z.enum(["active", "revoked", "expired"]),
    is_active: z.boolean().describe("false once revoked"),
    scopes: z.array(z.string()),
    rate_limit_per_minute: z.int(),
    monthly_limit: z.int().nullable(),
    limits: z
      .array(limitWire)
      .describe("Named windows besides rate_limit_per_minute (minute) and monthly_limit (month)"),
    concurrency: z
      .int()
      .nullable()
      .describe(
        "Most of the key's requests in flight at once (the policy concurrency); null = no cap",
      ),
    concurrency_mode: z
      .enum(["enforce", "shadow"])
      .nullable()
      .describe("enforce, or shadow (never refuses, counts would-be refusals); null without a cap"),
    created_at: timestamp,
    expires_at: timestamp.nullable(),
    last_used_at: timestamp.nullable(),
    allowed_ips: z
      .array(z.string())
      .nullable()
      .describe("CIDRs the key may be used from (canonical form); null = anywhere"),
    credits: creditsWire.nullable().describe("Prepaid credits; null = none"),
  })
  .meta({ id: "ApiKey" });

export const policyStatusWire = z
  .object({
    name: z.string().describe("As the RateLimit fields name it: minute, org.<name>, month, ..."),
    scope: z
      .enum(["key", "quota", "organization"])
      .describe(
        "Whose counter: the key's, its rotation lineage's (month, credits) or its organization's",
      ),
    mode: z.enum(["enforce", "shadow"]),
    limit: z.int().describe("Allowed per window (credits: the current period's credits)"),
    window_seconds: z
      .int()
      .describe("0 for a concurrency cap and for credits without a refill; the month as 30 days"),
    remaining: z
      .int()
      .nullable()
      .describe(
        "Left right now, read without spending. null where the server cannot tell: always for a concurrency cap, and for a window when it has no live count",
      ),
    resets_at: timestamp
      .nullable()
      .describe(
        "When more is allowed again (the RateLimit reset): the window's oldest counted request leaving it (sliding-window log), the window's end (counter), the bucket full (GCRA); the month's end; the credits' refill",
      ),
  })
  .meta({ id: "PolicyStatus" });

export const apiKeyDetailWire = apiKeyWire
  .extend({
    policies: z
      .array(policyStatusWire)
      .describe("Every policy of the key (its organization's included), with its live figures"),
  })
  .meta({ id: "ApiKeyDetail" });

export const addedCreditsWire = creditsWire
  .extend({
    key_id: z.uuid(),
    added: z.int(),
    remaining: z.int().describe("Credits left after the top-up"),
  })
  .meta({ id: "AddedCredits" });

export const revokedApiKeyWire = apiKeyWire
  .extend({
    already_revoked: z
      .boolean()
      .describe("true when the key was revoked before this request: nothing changed"),
  })
  .meta({ id: "RevokedApiKey" });

export const createdApiKeyWire = apiKeyWire
  .extend({
    raw_key: z.string().describe("The key itself. Shown this once: it is not stored anywhere."),
  })
  .meta({ id: "CreatedApiKey" });

export const rotatedApiKeyWire = z
  .object({
    key: createdApiKeyWire,
    previous: apiKeyWire.describe("The old key: revoked, or expiring when the grace period ends"),
  })
  .meta({ id: "RotatedApiKey" });

export const statsWire = z
  .object({
    organizations: z.int(),
    total_keys: z.int(),
    active_keys: z.int(),
    total_requests: z.int(),
    requests_last_hour: z.int(),
    error_rate: z
      .number()
      .describe("Share of requests answered 400 or above: a fraction from 0 to 1 (0.024 = 2.4%)"),
    legacy_hash_keys: z
      .int()
      .describe(
        "Keys (not revoked) imported from another system and still stored under its hash; they are re-stored under KeyGuard's HMAC on first use. At 0 the legacy secret can be retired.",
      ),
    previous_secret_keys: z
      .int()
      .describe(
        "Active keys made up to the last secret rotation (rotate-secret): while above 0 the retired secret must stay in previousSecretKeys. At 0 it can be removed.",
      ),
    shadow_refusals: z
      .int()
      .describe(
        "Requests a shadow policy (mode shadow) would have refused and let through, counted by the process that answers since it started.",
      ),
  })
  .meta({ id: "Stats" });

export const usageWire = z
  .object({
    key_id: z.uuid(),
    since: timestamp,
    hours: z.array(
      z.object({
        hour: timestamp,
        total: z.int(),
        status_2xx: z.int(),
        status_3xx: z.int(),
        status_4xx: z.int(),
        status_5xx: z.int(),
      }),
    ),
  })
  .meta({ id: "KeyUsage" });

export const usageOverviewWire = z
  .object({
    since: timestamp,
    hours: z.array(
      z.object({
        hour: timestamp,
        total: z.int(),
        status_2xx: z.int(),
        status_3xx: z.int(),
        status_4xx: z.int(),
        status_429: z.int().describe("Refused by a limit, a quota or credits: part of status_4xx"),
        status_5xx: z.int(),
      }),
    ),
    top_keys: z
      .array(
        z.object({
          key_id: z.uuid(),
          label: z.string(),
          prefix: z.string(),
          org_name: z.string(),
          requests: z.int(),
        }),
      )
      .describe("The 10 keys with the most requests since `since`, most first"),
  })
  .meta({ id: "UsageOverview" });

export const ipBlockWire = z
  .object({
    client: z.string().describe("The IP, or the IPv6 prefix clients are limited by"),
    scope: z.enum(["global", "path"]),
    path: z.string().nullable(),
    until: timestamp,
    reason: z.string(),
    automatic: z
      .boolean()
      .describe(
        "Made by KeyGuard itself (failed authentications past the threshold, a lockout), not by an operator",
      ),
  })
  .meta({ id: "IpBlock" });

const eventValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())]);

export const auditEventWire = z
  .object({
    id: z.uuid().describe("Time-ordered (UUIDv7): ids sort in the order events happened"),
    at: timestamp,
    actor: z
      .object({
        type: z.enum(EVENT_ACTOR_TYPES as ["admin_api", "cli", "code"]),
        name: z
          .string()
          .nullable()
          .describe(
            "admin_api: the client's address; cli: the OS user; code: the name the application gave (withActor), or null",
          ),
      })
      .describe("Who made the change, and through which door"),
    action: z.enum(EVENT_ACTION_NAMES as [EventAction, ...EventAction[]]),
    target_type: z.enum(EVENT_TARGET_TYPES),
    target_id: z
      .string()
      .describe("The key's, organization's or IP rule's id, or the client's address"),
    changes: z
      .object({
        before: z.record(z.string(), eventValue),
        after: z.record(z.string(), eventValue),
      })
      .describe(
        "The changed fields as they were and as they are (a creation has an empty before); never a raw key, a hash or a secret",
      ),
  })
  .meta({ id: "AuditEvent" });

export const problemWire = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().describe("Stable machine-readable error code"),
  })
  .meta({ id: "Problem" });

/** A page of a listing; `next_cursor` fetches the next one (null on the last page). */
export function pageWire<T extends z.ZodType>(item: T, id: string) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() }).meta({ id });
}

/*
 * The converters live in core, shared with the CLI's `--json` output; each must produce
 * what its schema here documents (checked at compile time).
 */
export {
  toApiKeyWire,
  toAuditEventWire,
  toCreditsWire,
  toIpBlockWire,
  toOrganizationWire,
  toPolicyStatusWire,
  toStatsWire,
  toUsageOverviewWire,
  toUsageWire,
};

toOrganizationWire satisfies (organization: Organization) => z.infer<typeof organizationWire>;
toApiKeyWire satisfies (
  key: ApiKeyInfo,
  now: number,
  balance?: CreditBalance,
) => z.infer<typeof apiKeyWire>;
toPolicyStatusWire satisfies (status: PolicyStatus) => z.infer<typeof policyStatusWire>;
toStatsWire satisfies (stats: KeyGuardStats) => z.infer<typeof statsWire>;
toUsageWire satisfies (usage: KeyUsage) => z.infer<typeof usageWire>;
toUsageOverviewWire satisfies (overview: UsageOverview) => z.infer<typeof usageOverviewWire>;
toIpBlockWire satisfies (block: IpBlock) => z.infer<typeof ipBlockWire>;
toAuditEventWire satisfies (event: KeyGuardEvent) => z.infer<typeof auditEventWire>;
