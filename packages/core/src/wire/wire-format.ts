import type { ApiKeyInfo } from "../domain/api-key.js";
import { type CreditBalance, creditTerms } from "../domain/key-credits.js";
import type { Organization } from "../domain/organization.js";
import type { KeyGuardStats } from "../domain/stats.js";
import { creditPeriod } from "../limits/credit-balance.js";
import type { ConcurrencySpec, LimitSpec } from "../limits/limit-policy.js";
import type { PolicyStatus } from "../limits/live-limits.js";
import type { IpBlock } from "../ports/limiter.js";
import type { ApiKeyStatus } from "../ports/store.js";
import type { KeyUsage } from "../usage/key-usage.js";

/**
 * KeyGuard's data as it leaves a process, in the admin API's responses and the CLI's
 * `--json` output alike: keyguard-python's snake_case field names, ISO 8601 times (UTC), and
 * never a key's hash. One set of converters, so the two cannot drift apart; the admin
 * package holds the matching zod schemas that document it in the OpenAPI document.
 *
 * @example
 * JSON.stringify(toApiKeyWire(await kg.getApiKey("kg_live_4Gk9"), Date.now()));
 * // {"id":"0190...","org_id":"...","org_name":"Acme Corp","label":"production",...}
 */
export interface OrganizationWire {
  readonly id: string;
  readonly name: string;
  readonly status: "active" | "suspended";
  readonly created_at: string;
  /** Windows shared by all of the organization's keys. */
  readonly limits: LimitWire[];
  /** Most requests in flight at once across its keys (`org.concurrency`); null: no cap. */
  readonly concurrency: number | null;
  /** The cap's mode; null without a cap. */
  readonly concurrency_mode: "enforce" | "shadow" | null;
}

/** A named window as sent: `{ name, limit, window_seconds, algorithm?, mode? }`. */
export interface LimitWire {
  readonly name: string;
  readonly limit: number;
  readonly window_seconds: number;
  readonly algorithm?: "sliding-window-log" | "sliding-window-counter" | "gcra";
  readonly mode?: "enforce" | "shadow";
}

/** Named windows as sent. */
export function toLimitsWire(limits: readonly LimitSpec[] | undefined): LimitWire[] {
  return (limits ?? []).map((limit) => ({
    name: limit.name,
    limit: limit.limit,
    window_seconds: limit.windowSeconds,
    ...(limit.algorithm === undefined ? {} : { algorithm: limit.algorithm }),
    ...(limit.mode === undefined ? {} : { mode: limit.mode }),
  }));
}

/** A concurrency cap as sent: `concurrency` and `concurrency_mode` (both null: none). */
export function toConcurrencyWire(spec: ConcurrencySpec | null | undefined): {
  concurrency: number | null;
  concurrency_mode: "enforce" | "shadow" | null;
} {
  if (spec === null || spec === undefined) return { concurrency: null, concurrency_mode: null };
  return { concurrency: spec.limit, concurrency_mode: spec.mode ?? "enforce" };
}

/**
 * A concurrency cap as received: `undefined` when `concurrency` was not sent (no
 * change), `null` to remove it. The limit is passed on as sent; core validates it.
 */
export function fromConcurrencyWire(
  concurrency: number | null | undefined,
  mode: "enforce" | "shadow" | undefined,
): ConcurrencySpec | null | undefined {
  if (concurrency === undefined || concurrency === null) return concurrency;
  return mode === undefined ? { limit: concurrency } : { limit: concurrency, mode };
}

/** Named windows as received (already shaped by the caller's schema; core validates). */
export function fromLimitsWire(limits: readonly LimitWire[]): LimitSpec[] {
  return limits.map((limit) => ({
    name: limit.name,
    limit: limit.limit,
    windowSeconds: limit.window_seconds,
    ...(limit.algorithm === undefined ? {} : { algorithm: limit.algorithm }),
    ...(limit.mode === undefined ? {} : { mode: limit.mode }),
  }));
}

export interface ApiKeyWire {
  readonly id: string;
  readonly org_id: string;
  readonly org_name: string;
  readonly label: string;
  readonly prefix: string;
  readonly status: ApiKeyStatus;
  readonly is_active: boolean;
  readonly scopes: string[];
  readonly rate_limit_per_minute: number;
  readonly monthly_limit: number | null;
  /** Named windows besides the minute and the month. */
  readonly limits: LimitWire[];
  /** Most of the key's requests in flight at once (`concurrency`); null: no cap. */
  readonly concurrency: number | null;
  /** The cap's mode; null without a cap. */
  readonly concurrency_mode: "enforce" | "shadow" | null;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
  /** CIDRs the key may be used from; `null`: anywhere. */
  readonly allowed_ips: string[] | null;
  /** Prepaid credits; `null`: none. */
  readonly credits: CreditsWire | null;
}

/**
 * A key's credits as sent: what is left of the current period's (`null` where it was not
 * looked up), the period's credits, when it began and when the next refill comes.
 */
export interface CreditsWire {
  readonly remaining: number | null;
  readonly period_credits: number;
  readonly period_start: string;
  readonly refills_at: string | null;
  readonly refill: { readonly amount: number; readonly interval: "daily" | "monthly" } | null;
}

/** A key's credits as sent, with `balance` (`KeyGuard.creditBalance`) when looked up. */
export function toCreditsWire(
  key: ApiKeyInfo,
  now: number,
  balance?: CreditBalance,
): CreditsWire | null {
  const credits = key.credits;
  if (credits === undefined || credits === null) return null;
  const period = creditPeriod(creditTerms(credits), now);
  const start = balance?.periodStart.getTime() ?? period.start;
  const end = balance === undefined ? period.end : balance.refillsAt?.getTime();
  return {
    remaining: balance?.remaining ?? null,
    period_credits: balance?.periodCredits ?? period.limit,
    period_start: new Date(start).toISOString(),
    refills_at: end === undefined ? null : new Date(end).toISOString(),
    refill:
      credits.refill === null
        ? null
        : { amount: credits.refill.amount, interval: credits.refill.interval },
  };
}

export interface StatsWire {
  readonly organizations: number;
  readonly total_keys: number;
  readonly active_keys: number;
  readonly total_requests: number;
  readonly requests_last_hour: number;
  /** Share of requests answered 400 or above, as a fraction: 0.024 is 2.4%. */
  readonly error_rate: number;
  /** Unrevoked keys still under another system's hash (waiting for their first use). */
  readonly legacy_hash_keys: number;
  /** Active keys made up to the last secret rotation: while above 0 the old secret is needed. */
  readonly previous_secret_keys: number;
  /** Requests shadow policies would have refused, counted by the answering process. */
  readonly shadow_refusals: number;
}

export interface UsageWire {
  readonly key_id: string;
  readonly since: string;
  readonly hours: {
    readonly hour: string;
    readonly total: number;
    readonly status_2xx: number;
    readonly status_3xx: number;
    readonly status_4xx: number;
    readonly status_5xx: number;
  }[];
}

export interface IpBlockWire {
  readonly client: string;
  readonly scope: "global" | "path";
  readonly path: string | null;
  readonly until: string;
  readonly reason: string;
  /** Made by KeyGuard itself (failed authentications, a lockout), not by an operator. */
  readonly automatic: boolean;
}

const iso = (date: Date) => date.toISOString();
const isoOrNull = (date: Date | null) => (date === null ? null : date.toISOString());

export function toOrganizationWire(organization: Organization): OrganizationWire {
  return {
    id: organization.id,
    name: organization.name,
    status: organization.status,
    created_at: iso(organization.createdAt),
    limits: toLimitsWire(organization.limits),
    ...toConcurrencyWire(organization.concurrency),
  };
}

/** A key's status as the store's listing filter defines it: revoked wins over expired. */
function keyStatus(key: ApiKeyInfo, now: number): ApiKeyStatus {
  if (!key.isActive) return "revoked";
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return "expired";
  return "active";
}

/**
 * A key as sent; `now` decides whether it shows as expired. `balance` (from
 * `KeyGuard.creditBalance`) fills in `credits.remaining`.
 */
export function toApiKeyWire(key: ApiKeyInfo, now: number, balance?: CreditBalance): ApiKeyWire {
  return {
    id: key.id,
    org_id: key.orgId,
    org_name: key.organizationName,
    label: key.label,
    prefix: key.prefix,
    status: keyStatus(key, now),
    is_active: key.isActive,
    scopes: [...key.scopes],
    rate_limit_per_minute: key.rateLimitPerMinute,
    monthly_limit: key.monthlyLimit,
    limits: toLimitsWire(key.limits),
    ...toConcurrencyWire(key.concurrency),
    created_at: iso(key.createdAt),
    expires_at: isoOrNull(key.expiresAt),
    last_used_at: isoOrNull(key.lastUsedAt),
    allowed_ips:
      key.allowedIps === undefined || key.allowedIps === null ? null : [...key.allowedIps],
    credits: toCreditsWire(key, now, balance),
  };
}

/** One policy's live figures as the admin API sends them (`GET /admin/keys/{id}`). */
export interface PolicyStatusWire {
  readonly name: string;
  readonly scope: "key" | "quota" | "organization";
  readonly mode: "enforce" | "shadow";
  readonly limit: number;
  readonly window_seconds: number;
  readonly remaining: number | null;
  readonly resets_at: string | null;
}

export function toPolicyStatusWire(status: PolicyStatus): PolicyStatusWire {
  return {
    name: status.name,
    scope: status.scope,
    mode: status.mode,
    limit: status.limit,
    window_seconds: status.windowSeconds,
    remaining: status.remaining,
    resets_at: status.resetsAt === null ? null : status.resetsAt.toISOString(),
  };
}

export function toStatsWire(stats: KeyGuardStats): StatsWire {
  return {
    organizations: stats.organizations,
    total_keys: stats.totalKeys,
    active_keys: stats.activeKeys,
    total_requests: stats.totalRequests,
    requests_last_hour: stats.requestsLastHour,
    error_rate: stats.errorRate,
    legacy_hash_keys: stats.legacyHashKeys,
    previous_secret_keys: stats.previousSecretKeys,
    shadow_refusals: stats.shadowRefusals ?? 0,
  };
}

export function toUsageWire(usage: KeyUsage): UsageWire {
  return {
    key_id: usage.key.id,
    since: iso(usage.since),
    hours: usage.buckets.map((bucket) => ({
      hour: iso(bucket.hour),
      total: bucket.total,
      status_2xx: bucket.status2xx,
      status_3xx: bucket.status3xx,
      status_4xx: bucket.status4xx,
      status_5xx: bucket.status5xx,
    })),
  };
}

export function toIpBlockWire(block: IpBlock): IpBlockWire {
  return {
    client: block.client,
    scope: block.scope,
    path: block.path ?? null,
    until: new Date(block.untilMs).toISOString(),
    reason: block.reason,
    automatic: block.automatic === true,
  };
}
