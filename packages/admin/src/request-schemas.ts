import { EVENT_ACTION_NAMES } from "@keyguard/core/internal";
import { z } from "zod";

/**
 * What the admin API accepts. These check the shape (types, field names, no unknown
 * fields); the values themselves (name lengths, limits, scopes, expiry in the future) are
 * checked once, by the core operations the routes call, with the same messages the CLI
 * shows.
 */

const text = (field: string) => z.string({ error: `${field} must be a string` });
const wholeNumber = (field: string) =>
  z.number({ error: `${field} must be a number` }).int(`${field} must be a whole number`);
const time = (field: string) =>
  z.iso.datetime({
    offset: true,
    error: `${field} must be an ISO 8601 time, e.g. 2027-01-31T00:00:00Z`,
  });

export const createOrganizationBody = z
  .strictObject({ name: text("name") })
  .meta({ id: "CreateOrganization" });

/** A named window; core checks the values (names, bounds, uniqueness). */
export const limitBody = z.strictObject({
  name: text("a limit's name"),
  limit: wholeNumber("a limit's limit"),
  window_seconds: wholeNumber("a limit's window_seconds"),
  algorithm: z
    .enum(["sliding-window-log", "sliding-window-counter", "gcra"], {
      error: "a limit's algorithm must be sliding-window-log, sliding-window-counter or gcra",
    })
    .optional(),
  mode: z
    .enum(["enforce", "shadow"], { error: 'a limit\'s mode must be "enforce" or "shadow"' })
    .optional(),
});

const limitsBody = z
  .array(limitBody, { error: "limits must be a list of { name, limit, window_seconds }" })
  .max(100, "limits must hold at most 10 windows")
  .describe(
    "Named windows, all enforced together with rate_limit_per_minute (the policy minute) and monthly_limit (month): up to 10, names of a-z 0-9 _ - (1-32, not minute, month, concurrency or credits), windows of 1 s to 31 days. Replaces the current ones; [] for none.",
  );

/** A concurrency cap; core checks its bounds (1 to 10,000). */
const concurrencyBody = wholeNumber("concurrency")
  .nullable()
  .describe(
    "Most requests in flight at once (a whole number, 1 to 10000): a slot is taken when a request is let through and given back when its response is over or its connection closes; past it, 429 concurrency_limited. null removes the cap",
  );
const concurrencyModeBody = z
  .enum(["enforce", "shadow"], { error: 'concurrency_mode must be "enforce" or "shadow"' })
  .describe(
    "enforce (default), or shadow: never refuses, counts would-be refusals. Only with concurrency in the same request",
  );
/** `concurrency_mode` says how a cap sent alongside it works: alone it means nothing. */
const modeNeedsCap = (body: { concurrency?: number | null; concurrency_mode?: string }) =>
  body.concurrency_mode === undefined ||
  (body.concurrency !== undefined && body.concurrency !== null);
const MODE_NEEDS_CAP = {
  message: "concurrency_mode needs a concurrency (1 to 10000) in the same request",
  path: ["concurrency_mode"],
};

export const updateOrganizationBody = z
  .strictObject({
    status: z
      .enum(["active", "suspended"], { error: 'status must be "active" or "suspended"' })
      .optional(),
    limits: limitsBody
      .optional()
      .describe("Windows shared by all of the organization's keys (named org.<name> in answers)"),
    concurrency: concurrencyBody
      .optional()
      .describe(
        "Most requests in flight at once across all of the organization's keys (org.concurrency in answers), 1 to 10000; null removes the cap",
      ),
    concurrency_mode: concurrencyModeBody.optional(),
  })
  .refine(
    (body) =>
      body.status !== undefined || body.limits !== undefined || body.concurrency !== undefined,
    { message: "give status, limits or concurrency" },
  )
  .refine(modeNeedsCap, MODE_NEEDS_CAP)
  .meta({ id: "UpdateOrganization" });

const keySettings = {
  label: text("label"),
  rate_limit_per_minute: wholeNumber("rate_limit_per_minute"),
  monthly_limit: wholeNumber("monthly_limit").nullable(),
  scopes: z.array(text("each scope"), { error: "scopes must be a list of strings" }),
  expires_at: time("expires_at").nullable(),
  allowed_ips: z
    .array(z.string({ error: "each allowed_ips entry must be a string" }), {
      error: "allowed_ips must be a list of IP addresses or CIDRs",
    })
    .nullable()
    .describe(
      "Addresses or CIDRs the key may be used from (at most 100); elsewhere it is refused with 403 ip_not_allowed. null or [] = anywhere",
    ),
  limits: limitsBody,
  concurrency: concurrencyBody,
  concurrency_mode: concurrencyModeBody,
  credits: z
    .strictObject(
      {
        remaining: wholeNumber("credits.remaining"),
        refill: z
          .strictObject(
            {
              amount: wholeNumber("credits.refill.amount"),
              interval: z.enum(["daily", "monthly"], {
                error: 'credits.refill.interval must be "daily" or "monthly"',
              }),
            },
            { error: "credits.refill must be an object { amount, interval }" },
          )
          .nullable()
          .optional()
          .describe(
            "Reset the balance to amount at each boundary: daily = UTC midnight, monthly = the 1st (UTC)",
          ),
      },
      { error: "credits must be an object { remaining, refill? } or null" },
    )
    .nullable()
    .describe(
      "Prepaid credits: each allowed request spends its cost; with too few left it is refused with 429 credits_exhausted. Setting them starts a fresh balance of remaining (0 to 2^53-1); null removes them.",
    ),
};

export const createApiKeyBody = z
  .strictObject({
    org_name: text("org_name").optional(),
    org_id: text("org_id").optional(),
    label: keySettings.label,
    rate_limit_per_minute: keySettings.rate_limit_per_minute.optional(),
    monthly_limit: keySettings.monthly_limit.optional(),
    limits: keySettings.limits.optional(),
    concurrency: keySettings.concurrency.optional(),
    concurrency_mode: keySettings.concurrency_mode.optional(),
    scopes: keySettings.scopes.optional(),
    expires_at: keySettings.expires_at.optional(),
    allowed_ips: keySettings.allowed_ips.optional(),
    credits: keySettings.credits.optional(),
    environment: z
      .enum(["live", "test"], { error: 'environment must be "live" or "test"' })
      .optional(),
  })
  .refine((body) => (body.org_name === undefined) !== (body.org_id === undefined), {
    message: "give the organization as exactly one of org_name or org_id",
  })
  .refine(modeNeedsCap, MODE_NEEDS_CAP)
  .meta({ id: "CreateApiKey" });

export const updateApiKeyBody = z
  .strictObject({
    label: keySettings.label.optional(),
    rate_limit_per_minute: keySettings.rate_limit_per_minute.optional(),
    monthly_limit: keySettings.monthly_limit.optional(),
    limits: keySettings.limits.optional(),
    concurrency: keySettings.concurrency.optional(),
    concurrency_mode: keySettings.concurrency_mode.optional(),
    scopes: keySettings.scopes.optional(),
    expires_at: keySettings.expires_at.optional(),
    allowed_ips: keySettings.allowed_ips.optional(),
    credits: keySettings.credits.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: "give at least one field to change" })
  .refine(modeNeedsCap, MODE_NEEDS_CAP)
  .meta({ id: "UpdateApiKey" });

export const addCreditsBody = z
  .strictObject({
    add: wholeNumber("add").describe("Credits to add: 1 to 2^53-1 (the balance may not exceed it)"),
  })
  .meta({ id: "AddCredits" });

export const rotateApiKeyBody = z
  .strictObject({
    grace_period_seconds: wholeNumber("grace_period_seconds")
      .positive("grace_period_seconds must be greater than 0")
      .max(365 * 24 * 3600, "grace_period_seconds must be at most a year")
      .optional(),
  })
  .meta({ id: "RotateApiKey" });

export const createIpBlockBody = z
  .strictObject({
    ip: text("ip"),
    duration: z
      .union([text("duration"), wholeNumber("duration")], {
        error: 'duration must be seconds or a duration such as "1 hour"',
      })
      .optional(),
    path: text("path").optional(),
    reason: text("reason").optional(),
  })
  .meta({ id: "CreateIpBlock" });

const pageSize = z
  .string()
  .regex(/^\d+$/, "limit must be a whole number")
  .transform(Number)
  .pipe(z.number().min(1, "limit must be at least 1").max(200, "limit must be at most 200"));

export const listOrganizationsQuery = z.strictObject({
  limit: pageSize.optional(),
  cursor: z.string().optional(),
  status: z
    .enum(["active", "suspended"], { error: 'status must be "active" or "suspended"' })
    .optional(),
});

export const listApiKeysQuery = z.strictObject({
  limit: pageSize.optional(),
  cursor: z.string().optional(),
  org: z.string().optional().describe("Organization name or id"),
  status: z
    .enum(["active", "revoked", "expired"], {
      error: 'status must be "active", "revoked" or "expired"',
    })
    .optional(),
});

export const usageQuery = z.strictObject({
  since: time("since")
    .optional()
    .describe(
      "Start of the report (default: 24 hours ago); it counts whole UTC hours, from the start of the hour holding it",
    ),
});

export const listAuditEventsQuery = z.strictObject({
  limit: pageSize.optional(),
  cursor: z.string().optional(),
  action: z
    .string()
    .optional()
    .describe(`Only these actions, comma-separated: ${EVENT_ACTION_NAMES.join(", ")}`),
  target_id: z
    .string()
    .optional()
    .describe("Only events about this key or organization id, or this client address"),
  since: time("since").optional().describe("Only events at or after this time"),
  until: time("until").optional().describe("Only events before this time"),
});

export const noQuery = z.strictObject({});
