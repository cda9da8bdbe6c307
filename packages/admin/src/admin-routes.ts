import {
  type ApiKeyInfo,
  type EventAction,
  type KeyGuard,
  KeyGuardError,
  type Organization,
} from "@keyguard/core";
import { fromConcurrencyWire, fromLimitsWire, isWellFormedKey } from "@keyguard/core/internal";
import { z } from "zod";
import { IP_RULE_ROUTES } from "./ip-rule-routes.js";
import { pageQuery, toPage } from "./pagination.js";
import {
  addCreditsBody,
  createApiKeyBody,
  createIpBlockBody,
  createOrganizationBody,
  listApiKeysQuery,
  listAuditEventsQuery,
  listOrganizationsQuery,
  noQuery,
  rotateApiKeyBody,
  updateApiKeyBody,
  updateOrganizationBody,
  usageQuery,
} from "./request-schemas.js";
import { WEBHOOK_ROUTES } from "./webhook-routes.js";
import {
  addedCreditsWire,
  apiKeyDetailWire,
  apiKeyWire,
  auditEventWire,
  createdApiKeyWire,
  ipBlockWire,
  listedOrganizationWire,
  organizationWire,
  pageWire,
  revokedApiKeyWire,
  rotatedApiKeyWire,
  statsWire,
  toApiKeyWire,
  toAuditEventWire,
  toCreditsWire,
  toIpBlockWire,
  toOrganizationWire,
  toPolicyStatusWire,
  toStatsWire,
  toUsageOverviewWire,
  toUsageWire,
  usageOverviewWire,
  usageWire,
} from "./wire-format.js";

/** A key as sent, with its credits' balance looked up (nothing to look up without credits). */
async function keyWire(kg: KeyGuard, key: ApiKeyInfo, now: number) {
  return toApiKeyWire(key, now, key.credits ? await kg.creditBalance(key) : undefined);
}

/** What a route's handler gets: validated path parameters, query and body. */
export interface RouteInput {
  readonly params: Readonly<Record<string, string>>;
  readonly query: unknown;
  readonly body: unknown;
  readonly now: number;
}

/** One admin operation: how it is reached, what it accepts and answers, what it does. */
export interface AdminRoute {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Relative to the mount prefix, with `{name}` parameters. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  /** Longer text for the OpenAPI document, where the summary does not say enough. */
  readonly description?: string;
  readonly tag:
    | "Organizations"
    | "Keys"
    | "Usage"
    | "IP blocks"
    | "Audit"
    | "Webhooks"
    | "IP rules";
  readonly status: 200 | 201;
  /** When the status depends on the outcome (an existing item answered 200, say). */
  readonly statusFor?: (result: unknown) => 200 | 201;
  /** Other success statuses `statusFor` may answer, described for the document. */
  readonly alsoAnswers?: Readonly<Partial<Record<200 | 201, string>>>;
  readonly query: z.ZodType;
  /** The request body's schema; `optionalBody` lets it be left out entirely. */
  readonly body?: z.ZodType;
  readonly optionalBody?: boolean;
  readonly response: z.ZodType;
  /** When the operation can answer 409: what the conflicts are, by code, for the document. */
  readonly conflict?: string;
  readonly run: (kg: KeyGuard, input: RouteInput) => Promise<unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Path ids are UUIDs. Anything else is "not found" without being looked up or echoed: a
 * raw key pasted into a URL must not be hashed, searched for or repeated in the answer.
 */
function keyId(params: Readonly<Record<string, string>>): string {
  const id = params.id ?? "";
  if (!UUID.test(id)) {
    const hint = isWellFormedKey(id) ? " Never put a raw key in a URL: use the key's id." : "";
    throw new KeyGuardError("api_key_not_found", `No API key has this id.${hint}`);
  }
  return id;
}

function organizationId(params: Readonly<Record<string, string>>): string {
  const id = params.id ?? "";
  if (!UUID.test(id))
    throw new KeyGuardError("organization_not_found", "No organization has this id.");
  return id;
}

const optionalDate = (value: string | null | undefined) =>
  value === undefined ? undefined : value === null ? null : new Date(value);

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  {
    method: "POST",
    path: "/orgs",
    operationId: "createOrganization",
    summary: "Create an organization",
    tag: "Organizations",
    status: 201,
    query: noQuery,
    body: createOrganizationBody,
    response: organizationWire,
    conflict: "`organization_exists`: an organization with this name exists",
    run: async (kg, { body }) => {
      const { name } = body as z.infer<typeof createOrganizationBody>;
      return toOrganizationWire(await kg.createOrganization(name));
    },
  },
  {
    method: "GET",
    path: "/orgs",
    operationId: "listOrganizations",
    summary: "List organizations (oldest first, paginated), with their keys counted",
    tag: "Organizations",
    status: 200,
    query: listOrganizationsQuery,
    response: pageWire(listedOrganizationWire, "OrganizationPage"),
    run: async (kg, { query }) => {
      const { limit, cursor, status } = query as z.infer<typeof listOrganizationsQuery>;
      const page = pageQuery({ limit, cursor });
      const read = await kg.listOrganizations({ ...page, ...(status && { status }) });
      const counts = await kg.countKeysByOrganization(read.map((org) => org.id));
      return toPage(read, page, (org) => ({
        ...toOrganizationWire(org),
        keys: counts === undefined ? null : (counts.get(org.id) ?? { total: 0, active: 0 }),
      }));
    },
  },
  {
    method: "PATCH",
    path: "/orgs/{id}",
    operationId: "updateOrganization",
    summary:
      "Suspend or reactivate an organization (its keys are refused while suspended), or set the limits and the concurrency cap all of its keys share",
    tag: "Organizations",
    status: 200,
    query: noQuery,
    body: updateOrganizationBody,
    response: organizationWire,
    run: async (kg, { params, body }) => {
      const id = organizationId(params);
      const input = body as z.infer<typeof updateOrganizationBody>;
      const { status, limits } = input;
      let updated =
        limits === undefined
          ? undefined
          : await kg.setOrganizationLimits(id, fromLimitsWire(limits));
      const concurrency = fromConcurrencyWire(input.concurrency, input.concurrency_mode);
      if (concurrency !== undefined) {
        updated = await kg.setOrganizationConcurrency(id, concurrency);
      }
      if (status !== undefined) {
        updated =
          status === "suspended"
            ? await kg.suspendOrganization(id)
            : await kg.reactivateOrganization(id);
      }
      return toOrganizationWire(updated as Organization);
    },
  },
  {
    method: "POST",
    path: "/keys",
    operationId: "createApiKey",
    summary: "Create an API key (the raw key is in this response only)",
    tag: "Keys",
    status: 201,
    query: noQuery,
    body: createApiKeyBody,
    response: createdApiKeyWire,
    run: async (kg, { body, now }) => {
      const input = body as z.infer<typeof createApiKeyBody>;
      const { rawKey, key } = await kg.createApiKey({
        organization: (input.org_id ?? input.org_name) as string,
        label: input.label,
        rateLimitPerMinute: input.rate_limit_per_minute,
        monthlyLimit: input.monthly_limit,
        limits: input.limits && fromLimitsWire(input.limits),
        concurrency: fromConcurrencyWire(input.concurrency, input.concurrency_mode),
        scopes: input.scopes,
        expiresAt: optionalDate(input.expires_at),
        environment: input.environment,
        allowedIps: input.allowed_ips,
        credits: input.credits,
      });
      return { ...(await keyWire(kg, key, now)), raw_key: rawKey };
    },
  },
  {
    method: "GET",
    path: "/keys",
    operationId: "listApiKeys",
    summary: "List API keys, masked (oldest first, paginated)",
    tag: "Keys",
    status: 200,
    query: listApiKeysQuery,
    response: pageWire(apiKeyWire, "ApiKeyPage"),
    run: async (kg, { query, now }) => {
      const { limit, cursor, org, status } = query as z.infer<typeof listApiKeysQuery>;
      const page = pageQuery({ limit, cursor });
      const read = await kg.listApiKeys({
        ...page,
        ...(org !== undefined && { organization: org }),
        ...(status && { status }),
      });
      // Credits left, for the keys that have credits (one look-up each).
      const balances = new Map(
        await Promise.all(
          read
            .filter((key) => key.credits)
            .map(async (key) => [key.id, await kg.creditBalance(key)] as const),
        ),
      );
      return toPage(read, page, (key) => toApiKeyWire(key, now, balances.get(key.id)));
    },
  },
  {
    method: "GET",
    path: "/keys/{id}",
    operationId: "getApiKey",
    summary: "Get one API key, masked, with where each of its policies stands",
    description:
      "`policies` lists every limit the key's requests are decided against (its own, its organization's, the month, credits, concurrency caps) with what is left right now, read without spending. Windows are live counts (with the configured algorithm): exact across servers with Redis, this server's own with the memory limiter (null when it has none). The month and credits never count less than the usage written to the database.",
    tag: "Keys",
    status: 200,
    query: noQuery,
    response: apiKeyDetailWire,
    run: async (kg, { params, now }) => {
      const key = await kg.getApiKey(keyId(params));
      // One read of the live figures: the credits shown and the credits policy agree.
      const status = await kg.limitStatus(key);
      return {
        ...toApiKeyWire(key, now, status.credits),
        policies: status.policies.map(toPolicyStatusWire),
      };
    },
  },
  {
    method: "PATCH",
    path: "/keys/{id}",
    operationId: "updateApiKey",
    summary:
      "Change a key's label, limits, concurrency cap, scopes, expiry or credits (in force at once)",
    tag: "Keys",
    status: 200,
    query: noQuery,
    body: updateApiKeyBody,
    response: apiKeyWire,
    conflict:
      "`key_already_rotated`: the key was rotated, its settings now belong to its successor (named in the detail); `conflict`: the key is revoked",
    run: async (kg, { params, body, now }) => {
      const id = keyId(params);
      const input = body as z.infer<typeof updateApiKeyBody>;
      const updated = await kg.updateApiKey(id, {
        label: input.label,
        rateLimitPerMinute: input.rate_limit_per_minute,
        monthlyLimit: input.monthly_limit,
        limits: input.limits && fromLimitsWire(input.limits),
        concurrency: fromConcurrencyWire(input.concurrency, input.concurrency_mode),
        scopes: input.scopes,
        expiresAt: optionalDate(input.expires_at),
        allowedIps: input.allowed_ips,
        credits: input.credits,
      });
      return keyWire(kg, updated, now);
    },
  },
  {
    method: "POST",
    path: "/keys/{id}/credits",
    operationId: "addCredits",
    summary: "Add credits to a key's balance (in force at once)",
    description:
      "Adds to the current balance period's credits; if a refill boundary passed since the balance began, the new balance is the refill plus what is added. Concurrent top-ups all count (the database decides). Audited as `key.credits_added`.",
    tag: "Keys",
    status: 200,
    query: noQuery,
    body: addCreditsBody,
    response: addedCreditsWire,
    conflict:
      "`conflict`: the key has no credits (set them with PATCH `credits` first) or is revoked; `key_already_rotated`: the balance belongs to its successor (named in the detail)",
    run: async (kg, { params, body, now }) => {
      const { add } = body as z.infer<typeof addCreditsBody>;
      const key = await kg.addCredits(keyId(params), add);
      const credits = toCreditsWire(key, now, await kg.creditBalance(key));
      return { key_id: key.id, added: add, ...credits, remaining: credits?.remaining ?? 0 };
    },
  },
  {
    method: "DELETE",
    path: "/keys/{id}",
    operationId: "revokeApiKey",
    summary: "Revoke a key (refused from now on)",
    description:
      "Idempotent (RFC 9110): revoking a revoked key changes nothing and answers 200 with the key as it is and `already_revoked: true`, so a retried request does not fail. The database decides: of several revocations of one key at once, exactly one answers `already_revoked: false`.",
    tag: "Keys",
    status: 200,
    query: noQuery,
    response: revokedApiKeyWire,
    run: async (kg, { params, now }) => {
      const { key, alreadyRevoked } = await kg.revokeApiKeyOutcome(keyId(params));
      return { ...toApiKeyWire(key, now), already_revoked: alreadyRevoked };
    },
  },
  {
    method: "POST",
    path: "/keys/{id}/rotate",
    operationId: "rotateApiKey",
    summary:
      "Issue a new raw key with the same settings; the old one is revoked or expires after a grace period",
    tag: "Keys",
    status: 201,
    query: noQuery,
    description:
      "The new key continues the old one's monthly quota (one quota per rotation lineage; during a grace period both keys spend it). A key is rotated once: the database decides, so of several rotations of one key at once exactly one succeeds and the others answer 409 `key_already_rotated`.",
    body: rotateApiKeyBody,
    optionalBody: true,
    response: rotatedApiKeyWire,
    conflict:
      "`key_already_rotated`: the key was rotated before (its successor is named in the detail), also when this request lost a race with another rotation; `conflict`: the key is revoked or expired",
    run: async (kg, { params, body, now }) => {
      const { grace_period_seconds: grace } = (body ?? {}) as z.infer<typeof rotateApiKeyBody>;
      const rotated = await kg.rotateApiKey(keyId(params), {
        ...(grace === undefined ? {} : { gracePeriodMs: grace * 1000 }),
      });
      return {
        key: { ...(await keyWire(kg, rotated.key, now)), raw_key: rotated.rawKey },
        previous: await keyWire(kg, rotated.previous, now),
      };
    },
  },
  {
    method: "GET",
    path: "/keys/{id}/usage",
    operationId: "getApiKeyUsage",
    summary: "A key's requests per hour and status class",
    tag: "Usage",
    status: 200,
    query: usageQuery,
    response: usageWire,
    run: async (kg, { params, query, now }) => {
      const { since } = query as z.infer<typeof usageQuery>;
      // Core refuses a start in the future or more than 366 days back.
      const start = since === undefined ? new Date(now - 24 * 3_600_000) : new Date(since);
      return toUsageWire(await kg.usage(keyId(params), { since: start }));
    },
  },
  {
    method: "GET",
    path: "/usage",
    operationId: "getUsageOverview",
    summary: "Every key's requests per hour and status class, and the busiest keys",
    tag: "Usage",
    status: 200,
    query: usageQuery,
    response: usageOverviewWire,
    run: async (kg, { query, now }) => {
      const { since } = query as z.infer<typeof usageQuery>;
      // Core refuses a start in the future or more than 366 days back.
      const start = since === undefined ? new Date(now - 24 * 3_600_000) : new Date(since);
      return toUsageOverviewWire(await kg.usageOverview({ since: start }));
    },
  },
  {
    method: "GET",
    path: "/stats",
    operationId: "getStats",
    summary: "Usage statistics",
    tag: "Usage",
    status: 200,
    query: noQuery,
    response: statsWire,
    run: async (kg) => toStatsWire(await kg.stats()),
  },
  {
    method: "GET",
    path: "/ip-blocks",
    operationId: "listIpBlocks",
    summary: "IP blocks in force (manual, automatic and lockouts)",
    tag: "IP blocks",
    status: 200,
    query: noQuery,
    response: z.object({ items: z.array(ipBlockWire) }).meta({ id: "IpBlockList" }),
    run: async (kg) => ({ items: (await kg.listBlocks()).map(toIpBlockWire) }),
  },
  {
    method: "POST",
    path: "/ip-blocks",
    operationId: "createIpBlock",
    summary: "Block an IP everywhere, or on one path",
    tag: "IP blocks",
    status: 201,
    query: noQuery,
    body: createIpBlockBody,
    response: ipBlockWire,
    run: async (kg, { body }) => {
      const input = body as z.infer<typeof createIpBlockBody>;
      const block = await kg.blockIp(input.ip, {
        duration: input.duration,
        ...(input.path === undefined ? {} : { scope: "path" as const, path: input.path }),
        reason: input.reason,
      });
      return toIpBlockWire(block);
    },
  },
  {
    method: "DELETE",
    path: "/ip-blocks/{ip}",
    operationId: "deleteIpBlocks",
    summary: "Lift every block on an IP",
    tag: "IP blocks",
    status: 200,
    query: noQuery,
    response: z.object({ ip: z.string(), unblocked: z.boolean() }).meta({ id: "Unblocked" }),
    run: async (kg, { params }) => {
      const ip = params.ip ?? "";
      const unblocked = await kg.unblockIp(ip);
      if (!unblocked) throw new KeyGuardError("not_found", "This IP has no block in force.");
      return { ip, unblocked };
    },
  },
  {
    method: "GET",
    path: "/audit",
    operationId: "listAuditEvents",
    summary: "The audit log: every change, who made it and what changed (oldest first, paginated)",
    description:
      "One event per change, through any door (this API, the CLI, the application's code), written in the change's own transaction: a refused change has none. Filters combine; pages continue after `next_cursor`.",
    tag: "Audit",
    status: 200,
    query: listAuditEventsQuery,
    response: pageWire(auditEventWire, "AuditEventPage"),
    run: async (kg, { query }) => {
      const { limit, cursor, action, target_id, since, until } = query as z.infer<
        typeof listAuditEventsQuery
      >;
      const page = pageQuery({ limit, cursor });
      // Core checks each action is one it knows (a 400 naming the known ones otherwise).
      const actions = action?.split(",").map((name) => name.trim()) as EventAction[] | undefined;
      const read = await kg.listAuditEvents({
        ...page,
        ...(actions === undefined ? {} : { action: actions }),
        ...(target_id === undefined ? {} : { targetId: target_id }),
        ...(since === undefined ? {} : { since: new Date(since) }),
        ...(until === undefined ? {} : { until: new Date(until) }),
      });
      return toPage(read, page, toAuditEventWire);
    },
  },
  ...WEBHOOK_ROUTES,
  ...IP_RULE_ROUTES,
];
