import type { ApiKeyInfo } from "../domain/api-key.js";
import { type ErrorCode, httpStatusFor } from "../errors/error-codes.js";
import { isKeyGuardError, KeyGuardError } from "../errors/keyguard-error.js";
import { isQuotaSeedLost } from "../errors/quota-seed-lost.js";
import type { KeyGuard, VerifyOutcome } from "../keyguard.js";
import { type CreditTerms, creditPeriod } from "../limits/credit-balance.js";
import type { LimitPolicy } from "../limits/limit-policy.js";
import { calendarMonth } from "../limits/monthly-quota.js";
import type { RateLimitAlgorithm } from "../limits/window-decision.js";
import type {
  ConcurrencySlot,
  IpBlock,
  LimitDecision,
  Limiter,
  LimitRequest,
} from "../ports/limiter.js";
import {
  countAuthFailure,
  countsAsFailure,
  DEFAULT_FAILURE_BLOCK_MS,
  DEFAULT_FAILURE_WINDOW_MS,
} from "./auth-failures.js";
import { type KeyLimits, KeyLimitsCache } from "./key-limits.js";
import {
  blockedDetail,
  type ProblemDetails,
  problemResponse,
  retryAfterSeconds,
} from "./problem-details.js";
import { normalizePath } from "./protected-path.js";
import { type RateLimitHeaderStyle, rateLimitHeaders } from "./rate-limit-headers.js";
import { withHeader } from "./with-header.js";

/** How a protected route finds and limits keys. Every field has a safe default. */
export interface GuardOptions {
  /** Header carrying the key (case-insensitive). Default `x-api-key`. */
  readonly keyHeader?: string;
  /** Also accept `Authorization: Bearer <key>`. Default `true`. */
  readonly bearer?: boolean;
  /** Algorithm for the keys' per-minute limits. Default the seed's `sliding-window-log`. */
  readonly algorithm?: RateLimitAlgorithm;
  /** Failed authentications from one client are counted over this window. Default 1 hour. */
  readonly failureWindowMs?: number;
  /** How long a client is blocked after `ipBlockThreshold` failures. Default 24 hours. */
  readonly blockDurationMs?: number;
  /** Rate-limit headers on responses. Default `"both"`. */
  readonly rateLimitHeaders?: RateLimitHeaderStyle;
  /**
   * When the limiter (Redis, say) fails: `false` (default) answers 503; `true` lets the
   * request through unlimited. A store failure while verifying an uncached key is always
   * 503: a key that cannot be checked is never trusted.
   */
  readonly failOpen?: boolean;
}

/**
 * What a request spends of each of its key's policies: a number, or a function of the
 * framework's request (an adapter's `cost` option). Whole numbers from 0 (check without
 * spending) to 1,000,000,000; default 1. A number out of bounds is refused when the
 * middleware or route is set up ({@link checkCostOption}); a function's answer is checked
 * per request, and a function that throws or answers anything else gets the request a 503
 * (reported through `onBackgroundError`), never a guess and never a 500.
 */
export type RequestCost<R> = number | ((request: R) => number);

export const MAX_REQUEST_COST = 1_000_000_000;

function isValidCost(cost: unknown): cost is number {
  return (
    Number.isSafeInteger(cost) && (cost as number) >= 0 && (cost as number) <= MAX_REQUEST_COST
  );
}

/**
 * An adapter's `cost` option, checked where it is given (the middleware's or route's
 * setup): a number out of bounds, or anything neither a number nor a function, throws
 * `invalid_config` naming `where` at once, instead of answering every request 503.
 *
 * @example
 * const cost = checkCostOption(options.cost, "keyguard(kg, { cost })");
 */
export function checkCostOption<R>(
  cost: RequestCost<R> | undefined,
  where: string,
): RequestCost<R> | undefined {
  if (cost === undefined || typeof cost === "function" || isValidCost(cost)) return cost;
  throw new KeyGuardError(
    "invalid_config",
    `${where}: cost must be a whole number from 0 to ${MAX_REQUEST_COST.toLocaleString("en-US")} or a function of the request returning one (got ${describeCost(cost)}).`,
  );
}

/**
 * A request's cost from an adapter's option (1 without one). Throws what a cost function
 * throws; {@link RequestGuard.check} calls it inside its error handling.
 */
export function costOf<R>(cost: RequestCost<R> | undefined, request: R): number {
  if (cost === undefined) return 1;
  return typeof cost === "number" ? cost : cost(request);
}

/** The cost of this request, or `invalid_config`: the application's option is wrong. */
function requestCost<R>(option: RequestCost<R>, input: R): number {
  let cost: unknown;
  try {
    cost = costOf(option, input);
  } catch (error) {
    throw new KeyGuardError(
      "invalid_config",
      `The request's cost function threw: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (isValidCost(cost)) return cost;
  // The application's option (or its function) is wrong: a 503 it hears about.
  throw new KeyGuardError(
    "invalid_config",
    `A request's cost must be a whole number from 0 to ${MAX_REQUEST_COST.toLocaleString("en-US")} (got ${describeCost(cost)}).`,
  );
}

function describeCost(cost: unknown): string {
  const text = typeof cost === "string" ? JSON.stringify(cost) : String(cost);
  return text.slice(0, 40);
}

/** What an adapter reads off its framework's request. */
export interface GuardRequest {
  readonly method: string;
  /**
   * The path the framework routes: its parsed pathname (Express, Koa) or matched route
   * (Fastify), never the raw request target. Core normalises and bounds it.
   */
  readonly path: string;
  /** The socket's peer address. */
  readonly remoteAddress: string | undefined;
  /** A header by lower-case name, as the framework gives it. */
  header(name: string): string | string[] | undefined;
}

/** Facts about a checked request that its usage event needs. */
export interface GuardedRequest {
  readonly client: string;
  readonly method: string;
  /** The normalised, bounded path (see `normalizePath`). */
  readonly path: string;
  readonly startedAt: number;
}

/** A request let through: the key to attach and the headers to add. */
export interface GuardAllowed {
  readonly allowed: true;
  readonly apiKey: ApiKeyInfo;
  readonly headers: Readonly<Record<string, string>>;
  readonly request: GuardedRequest;
  /** `false` for a client on an allow rule: never limited, so not charged to the quota. */
  readonly charged?: false;
  /**
   * The request's place in its key's (or organization's) concurrency caps, when it has
   * any: given back by {@link RequestGuard.releaseSlot} once the response is over.
   */
  readonly slot?: ConcurrencySlot;
  /** What the request spent of its key's credits, and in which balance period. */
  readonly credits?: { readonly spent: number; readonly periodStart: number };
}

/** A request refused: status, headers and problem body to send, nothing else. */
export interface GuardRefused {
  readonly allowed: false;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly problem: ProblemDetails;
  readonly request: GuardedRequest;
  /** Set when the key was valid (a rate-limit or quota refusal): its usage is logged too. */
  readonly apiKey?: ApiKeyInfo;
}

export type GuardResult = GuardAllowed | GuardRefused;

const KEY_REFUSAL_DETAIL: Record<Exclude<VerifyOutcome, "valid" | "missing">, string> = {
  malformed: "The API key is not a valid KeyGuard key. Check that it was copied whole.",
  unknown: "The API key is not valid.",
  revoked: "The API key has been revoked.",
  expired: "The API key has expired.",
  organization_suspended: "The API key's organization is suspended.",
};

const IP_DENIED_DETAIL = "Requests from this IP address are not accepted.";
const IP_NOT_ALLOWED_DETAIL = "This API key may not be used from this IP address.";

/**
 * Refusals of a key that was sent and is wrong: only these count toward
 * `ipBlockThreshold`. No key at all never counts (any web page can make its visitors'
 * browsers send keyless requests), nor does a genuine key of a suspended organization.
 */
const WRONG_KEY: Readonly<Record<Exclude<VerifyOutcome, "valid">, boolean>> = {
  missing: false,
  malformed: true,
  unknown: true,
  revoked: true,
  expired: true,
  organization_suspended: false,
};

/**
 * The request pipeline every adapter runs: client address, IP blocks, key extraction and
 * verification, failure counting and automatic blocking, the key's rate limit and quota,
 * and usage logging after the response. Framework-free: an adapter translates its request
 * into a {@link GuardRequest}, calls {@link check}, writes out the result, and calls
 * {@link complete} when the response is finished.
 */
export class RequestGuard {
  readonly #kg: KeyGuard;
  readonly #limiter: Limiter;
  readonly #keyHeader: string;
  readonly #bearer: boolean;
  /** Each key's policies and constant header parts, kept with the cached key. */
  readonly #keyLimits: KeyLimitsCache;
  readonly #failureWindowMs: number;
  readonly #blockDurationMs: number;
  readonly #headerStyle: RateLimitHeaderStyle;
  readonly #failOpen: boolean;
  /** `WWW-Authenticate` for every 401 (RFC 9110 §11.6.1 requires a challenge). */
  readonly #challenge: Readonly<Record<string, string>>;
  /** The detail of a `missing_api_key` refusal, naming the configured header. */
  readonly #missingDetail: string;
  /** Until the stored manual blocks are loaded, requests wait for them. */
  #blocksLoaded: Promise<void> | undefined;

  constructor(kg: KeyGuard, limiter: Limiter, options: GuardOptions = {}) {
    this.#kg = kg;
    this.#limiter = limiter;
    this.#keyHeader = (options.keyHeader ?? "x-api-key").toLowerCase();
    this.#bearer = options.bearer ?? true;
    this.#keyLimits = new KeyLimitsCache(options.algorithm ?? "sliding-window-log");
    this.#failureWindowMs = options.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS;
    this.#blockDurationMs = options.blockDurationMs ?? DEFAULT_FAILURE_BLOCK_MS;
    this.#headerStyle = options.rateLimitHeaders ?? "both";
    this.#failOpen = options.failOpen ?? false;
    const headerName = this.#keyHeader.toUpperCase();
    this.#challenge = {
      "www-authenticate": `ApiKey realm="keyguard", header="${headerName}"${this.#bearer ? ', Bearer realm="keyguard"' : ""}`,
    };
    this.#missingDetail = `Send an API key in the ${headerName} header${this.#bearer ? " or as Authorization: Bearer" : ""}.`;
    // Counts the limiter keeps elsewhere (Redis) may be gone after a reconnection: the
    // quotas seeded so far are seeded again before their next decision.
    limiter.onStateLost?.(() => {
      this.#quotaSeeded.clear();
      this.#creditsSeeded.clear();
    });
    this.#blocksLoaded = Promise.all([kg.syncBlocks(), kg.syncIpRules()]).then(() => {
      this.#blocksLoaded = undefined;
    });
  }

  /** The client identity limits and blocks apply to (IP, or IPv6 /64): `KeyGuard.clientOf`. */
  clientOf(request: GuardRequest): string {
    return this.#kg.clientOf(request);
  }

  /**
   * Runs the pipeline for one request, spending `cost` of each of its key's policies
   * (default 1; 0 checks without spending). A function cost is called with `costInput`
   * (the framework's request). Never throws: failures, a cost function's among them,
   * become 503 problems.
   */
  async check<R = undefined>(
    request: GuardRequest,
    costOption: RequestCost<R> = 1,
    costInput?: R,
  ): Promise<GuardResult> {
    const startedAt = this.#kg.clock.now();
    const client = this.clientOf(request);
    // Blocks, limits and usage rows are keyed by the normalised routed path: /LOGIN, /login/
    // and /login#1 are the same route, and no spelling is longer than MAX_KEYED_PATH_LENGTH.
    const blockPath = normalizePath(request.path);
    const guarded: GuardedRequest = {
      client,
      method: request.method,
      path: blockPath,
      startedAt,
    };
    try {
      const cost = requestCost(costOption, costInput as R);
      if (this.#blocksLoaded !== undefined) await this.#blocksLoaded;
      // IP rules first: a denied client gets nothing else (no key work at all); an allowed
      // one is never blocked, counted or limited (see ip-rules/ip-rule-service.ts).
      const ipRule = this.#kg.ipRuleFor(request);
      if (ipRule === "deny") return this.#refuse("ip_denied", IP_DENIED_DETAIL, guarded);
      const allowListed = ipRule === "allow";
      const manual = allowListed
        ? undefined
        : this.#kg.findManualBlock(client, blockPath, startedAt);
      if (manual !== undefined) {
        return this.#refuse("ip_blocked", blockedDetail(manual.untilMs, startedAt), guarded, {
          "retry-after": retryAfterSeconds(manual.untilMs - startedAt),
        });
      }
      const rawKey = this.#extractKey(request);
      const verified = rawKey.ok ? await this.#kg.verifyKey(rawKey.value) : undefined;
      if (verified === undefined || verified.outcome !== "valid") {
        const wrongKey = verified === undefined || WRONG_KEY[verified.outcome];
        const block = allowListed
          ? undefined
          : await this.#blockOrCountFailure(request, client, blockPath, startedAt, wrongKey);
        if (block !== undefined) {
          return this.#refuse("ip_blocked", blockedDetail(block.untilMs, startedAt), guarded, {
            "retry-after": retryAfterSeconds(block.untilMs - startedAt),
          });
        }
        const challenge = this.#challenge;
        if (verified === undefined) {
          // Only a key that could not be read (two keys, a repeated header) is unverified.
          const { detail } = rawKey as { detail: string };
          return this.#refuse("invalid_api_key", detail, guarded, challenge);
        }
        if (verified.outcome === "missing") {
          return this.#refuse("missing_api_key", this.#missingDetail, guarded, challenge);
        }
        return this.#refuse(
          verified.code,
          KEY_REFUSAL_DETAIL[verified.outcome],
          guarded,
          httpStatusFor(verified.code) === 401 ? challenge : {},
        );
      }
      const apiKey = verified.key;
      if (!this.#kg.keyAllowsClient(apiKey, request)) {
        // A genuine key used from elsewhere is treated as a stolen one: a failed attempt.
        const block = allowListed
          ? undefined
          : await this.#blockOrCountFailure(request, client, blockPath, startedAt, true);
        if (block !== undefined) {
          return this.#refuse("ip_blocked", blockedDetail(block.untilMs, startedAt), guarded, {
            "retry-after": retryAfterSeconds(block.untilMs - startedAt),
          });
        }
        return this.#refuse("ip_not_allowed", IP_NOT_ALLOWED_DETAIL, guarded, {}, apiKey);
      }
      // Allow-listed clients (health checkers, internal networks) are never limited.
      if (allowListed) {
        this.#kg.instruments.decisionAllowed(); // metrics
        return { allowed: true, apiKey, headers: {}, request: guarded, charged: false };
      }
      // Checked here, not in the async function: nearly always seeded, and then no await.
      if (apiKey.monthlyLimit !== null && this.#quotaSeedDue(apiKey.quotaId, startedAt)) {
        await this.#seedOnce(apiKey.quotaId, apiKey.orgId, startedAt);
      }
      const limits = this.#keyLimits.of(apiKey);
      const terms =
        limits.creditsIndex < 0
          ? undefined
          : (limits.policies[limits.creditsIndex] as LimitPolicy).credits;
      if (terms !== undefined && this.#creditsSeedDue(apiKey.quotaId, terms, startedAt)) {
        await this.#seedCreditsOnce(apiKey.quotaId, apiKey.orgId, terms, startedAt);
      }
      const limitRequest: LimitRequest = {
        now: startedAt,
        client,
        path: blockPath,
        key: apiKey, // has the id, quota and organization the port reads; no copy per request
        policies: limits.policies,
        cost,
      };
      let decision: LimitDecision;
      try {
        decision = await this.#limiter.decide(limitRequest);
      } catch (lost) {
        try {
          if (!isQuotaSeedLost(lost)) throw lost;
          // Redis lost the key's month (restarted empty, flushed): counted from zero it
          // would hand the quota out again. Seed it from the store and ask once more.
          await Promise.all([
            this.#seedOnce(apiKey.quotaId, apiKey.orgId, startedAt),
            terms === undefined
              ? undefined
              : this.#seedCreditsOnce(apiKey.quotaId, apiKey.orgId, terms, startedAt),
          ]);
          decision = await this.#limiter.decide(limitRequest);
        } catch (error) {
          if (!this.#failOpen) throw error;
          this.#kg.reportError(
            new KeyGuardError(
              "service_unavailable",
              `The limiter failed, so a request was let through unlimited (failOpen): ${messageOf(error)}`,
              { cause: error },
            ),
          );
          this.#kg.instruments.failedOpen(); // metrics: a pass the limiter did not decide
          this.#kg.instruments.decisionAllowed();
          return { allowed: true, apiKey, headers: {}, request: guarded };
        }
      }
      if (decision.shadowRefused !== undefined) this.#shadowRefused(apiKey, limits, decision);
      const headers = rateLimitHeaders(limits.headers, decision, startedAt, this.#headerStyle);
      if (decision.allowed) {
        this.#kg.instruments.decisionAllowed(); // metrics
        if (terms === undefined || cost === 0) {
          return decision.slot === undefined
            ? { allowed: true, apiKey, headers, request: guarded }
            : { allowed: true, apiKey, headers, request: guarded, slot: decision.slot };
        }
        const state = decision.policies[limits.creditsIndex];
        const periodStart = creditPeriod(terms, startedAt).start;
        if (state !== undefined) {
          this.#kg.webhooks.creditsSpent(
            apiKey,
            periodStart,
            state.limit,
            state.remaining,
            startedAt,
          );
        }
        return {
          allowed: true,
          apiKey,
          headers,
          request: guarded,
          credits: { spent: cost, periodStart },
          ...(decision.slot === undefined ? {} : { slot: decision.slot }),
        };
      }
      // Credits without a refill have no time to retry after (only a top-up helps).
      const wait =
        decision.retryAfterMs > 0 || decision.refusal !== "credits_exhausted"
          ? withHeader(headers, "retry-after", retryAfterSeconds(decision.retryAfterMs))
          : headers;
      if (decision.refusal === "ip_blocked") {
        return this.#refuse(
          "ip_blocked",
          blockedDetail(decision.resetAtMs, startedAt),
          guarded,
          wait,
          apiKey,
        );
      }
      if (decision.refusal === "quota_exceeded") {
        this.#kg.webhooks.quotaExceeded(apiKey, startedAt); // memory only: no I/O here
      }
      return this.#refuseOverLimit(limits, decision, guarded, wait, apiKey);
    } catch (error) {
      // Every 503 is reported (rate limited per kind: a flood of them is a few lines).
      this.#kg.reportError(
        new KeyGuardError(
          "service_unavailable",
          `A protected request was answered 503: ${messageOf(error)}`,
          { cause: error },
        ),
      );
      const code: ErrorCode = "service_unavailable";
      const detail = isKeyGuardError(error, "database_unavailable")
        ? "API keys cannot be verified right now. Retry shortly."
        : "The request could not be checked right now. Retry shortly.";
      return this.#refuse(code, detail, guarded, { "retry-after": "5" });
    }
  }

  /**
   * Gives back the concurrency slot an allowed request holds, if any: once its response
   * is over or its connection closed (`completeOnClose` does both). Harmless to call again.
   * A release that fails (Redis down) is reported, not thrown: the slot's lease ends it.
   */
  releaseSlot(result: GuardResult): void {
    if (!result.allowed || result.slot === undefined) return;
    result.slot.release().catch((error: unknown) => {
      this.#kg.reportError(
        new KeyGuardError(
          "service_unavailable",
          `A concurrency slot could not be given back (its lease will end it): ${messageOf(error)}`,
          { cause: error },
        ),
      );
    });
  }

  /** Logs the usage of a request whose key was identified, once its response is done. */
  complete(result: GuardResult, statusCode: number): void {
    const apiKey = result.apiKey;
    if (apiKey === undefined) return;
    const { client, method, path, startedAt } = result.request;
    this.#kg.recordUsage({
      keyId: apiKey.id,
      path,
      method,
      statusCode,
      latencyMs: this.#kg.clock.now() - startedAt,
      ipAddress: client,
      timestamp: new Date(startedAt),
      // Only requests let through count toward the quota (a key's 429s and IP-blocked
      // 403s do not), whatever status the application then answered.
      charged: result.allowed && result.charged !== false,
      ...(result.allowed && result.credits !== undefined
        ? { credits: result.credits.spent, creditsPeriodStart: result.credits.periodStart }
        : {}),
    });
  }

  /**
   * The first time this process sees a quota (each month), its count starts from what the
   * store recorded: a restart must not hand out a fresh quota. A quota is spent by every
   * key of one rotation lineage (`quotaId`), so the seed adds up the month's usage of the
   * lineage's keys used this month (usually one, two during a grace period): one query
   * for the lineage, one count per such key, per quota per month; nothing on later
   * requests, nothing for limiters without `seedQuota`.
   */
  async #seedQuota(quotaId: string, orgId: string, now: number): Promise<void> {
    const seed = this.#limiter.seedQuota;
    if (seed === undefined) return;
    const { start } = calendarMonth(now);
    const since = new Date(start);
    const store = this.#kg.store;
    const keyIds = await store.listQuotaKeyIds(quotaId, since);
    const counts = await Promise.all(keyIds.map((id) => store.countAllowedRequests(id, since)));
    const used = counts.reduce((sum, count) => sum + count, 0);
    await seed.call(this.#limiter, quotaId, start, used, orgId);
    this.#quotaSeeded.set(quotaId, start);
  }

  /**
   * `#seedQuota`, shared by the key's requests while one is under way: after Redis lost its
   * data (or reconnected) every request of a busy key finds its seed due at once, and each
   * asking the store would put a query per request on the database just then.
   */
  #seedOnce(quotaId: string, orgId: string, now: number): Promise<void> {
    const pending = this.#seeding.get(quotaId);
    if (pending !== undefined) return pending;
    const seeding = this.#seedQuota(quotaId, orgId, now).finally(() =>
      this.#seeding.delete(quotaId),
    );
    this.#seeding.set(quotaId, seeding);
    return seeding;
  }

  /**
   * The first time this process sees a lineage's balance period, its spending starts from
   * what the store recorded (one query per lineage per period), as a quota's month does.
   */
  async #seedCredits(
    quotaId: string,
    orgId: string,
    terms: CreditTerms,
    now: number,
  ): Promise<void> {
    const seed = this.#limiter.seedCredits;
    const spentIn = this.#kg.store.creditsSpent;
    if (seed === undefined) return;
    const { start } = creditPeriod(terms, now);
    const spent =
      spentIn === undefined ? 0 : await spentIn.call(this.#kg.store, quotaId, new Date(start));
    await seed.call(this.#limiter, quotaId, start, spent, orgId);
    this.#creditsSeeded.set(quotaId, start);
  }

  #seedCreditsOnce(quotaId: string, orgId: string, terms: CreditTerms, now: number): Promise<void> {
    const pending = this.#creditSeeding.get(quotaId);
    if (pending !== undefined) return pending;
    const seeding = this.#seedCredits(quotaId, orgId, terms, now).finally(() =>
      this.#creditSeeding.delete(quotaId),
    );
    this.#creditSeeding.set(quotaId, seeding);
    return seeding;
  }

  #creditsSeedDue(quotaId: string, terms: CreditTerms, now: number): boolean {
    return (
      this.#limiter.seedCredits !== undefined &&
      this.#creditsSeeded.get(quotaId) !== creditPeriod(terms, now).start
    );
  }

  readonly #creditSeeding = new Map<string, Promise<void>>();
  /** Lineages whose balance was seeded from the store, and for which period. */
  readonly #creditsSeeded = new Map<string, number>();

  /** Seeds under way, by quota id (bounded by the keys in use at once). */
  readonly #seeding = new Map<string, Promise<void>>();

  /** Whether `#seedQuota` has work to do for this quota this month. */
  #quotaSeedDue(quotaId: string, now: number): boolean {
    return (
      this.#limiter.seedQuota !== undefined &&
      this.#quotaSeeded.get(quotaId) !== calendarMonth(now).start
    );
  }

  /** Automatic blocks are stored, so a restart does not lift them. */
  readonly #recordBlock = (block: IpBlock) => this.#kg.blockAutomatically(block);

  /** Quotas whose count was seeded from the store, and for which month. */
  readonly #quotaSeeded = new Map<string, number>();

  /**
   * The limiter's block on the client, if any; else, for a wrong key, one failure counted
   * toward `ipBlockThreshold`. With the limiter down (Redis, say) the request is refused
   * either way: the failure goes uncounted rather than turning a 4xx into a 503, but is
   * reported.
   */
  async #blockOrCountFailure(
    request: GuardRequest,
    client: string,
    path: string,
    now: number,
    wrongKey: boolean,
  ): Promise<IpBlock | undefined> {
    try {
      const block = await this.#limiter.findBlock(client, path, now);
      if (block === undefined && countsAsFailure(request.method, wrongKey)) {
        await this.#countFailure(client, now);
      }
      return block;
    } catch (error) {
      this.#kg.reportError(error);
      return undefined;
    }
  }

  async #countFailure(client: string, now: number): Promise<void> {
    await countAuthFailure(
      this.#limiter,
      client,
      now,
      {
        threshold: this.#kg.config.ipBlockThreshold,
        windowMs: this.#failureWindowMs,
        blockMs: this.#blockDurationMs,
      },
      this.#recordBlock,
    );
  }

  #extractKey(
    request: GuardRequest,
  ): { ok: true; value: string | undefined } | { ok: false; detail: string } {
    const sent = request.header(this.#keyHeader);
    // An empty key header is no key (clients send `X-API-KEY:` from unset variables): it
    // neither conflicts with a bearer key nor counts as a wrong one.
    const header = sent === "" ? undefined : sent;
    if (Array.isArray(header)) {
      return { ok: false, detail: `Send exactly one ${this.#keyHeader.toUpperCase()} header.` };
    }
    let bearer: string | undefined;
    if (this.#bearer) {
      const authorization = request.header("authorization");
      const value = Array.isArray(authorization) ? undefined : authorization;
      if (value !== undefined && /^bearer\s+/i.test(value))
        bearer = value.replace(/^bearer\s+/i, "") || undefined;
    }
    if (header !== undefined && bearer !== undefined && header !== bearer) {
      return {
        ok: false,
        detail: `Two different API keys were sent (${this.#keyHeader.toUpperCase()} and Authorization).`,
      };
    }
    return { ok: true, value: header ?? bearer };
  }

  /** A 429 naming the violated policies (`violated-policies`, as the IETF draft has it). */
  #refuseOverLimit(
    limits: KeyLimits,
    decision: LimitDecision,
    guarded: GuardedRequest,
    headers: Readonly<Record<string, string>>,
    apiKey: ApiKeyInfo,
  ): GuardRefused {
    const violated = (decision.violated ?? []).map(
      (index) => limits.policies[index] as LimitPolicy,
    );
    const names = violated.map((policy) => policy.name);
    const code: ErrorCode =
      decision.refusal === "credits_exhausted" ||
      decision.refusal === "quota_exceeded" ||
      decision.refusal === "concurrency_limited"
        ? decision.refusal
        : "rate_limited";
    const retry = headers["retry-after"];
    let detail: string;
    if (code === "credits_exhausted") {
      const index = (decision.violated ?? []).find(
        (i) => limits.policies[i]?.algorithm === "credits",
      );
      const state = index === undefined ? undefined : decision.policies[index];
      const refill =
        retry === undefined
          ? "Add credits to continue."
          : `They are refilled in ${retry} s, or add credits.`;
      detail = `The key has ${state?.remaining ?? 0} credits left, too few for this request. ${refill}`;
    } else if (code === "concurrency_limited") {
      detail = `Over the limit of ${violated.map(describePolicy).join(" and ")}. Retry when one of them has finished.`;
    } else if (code === "quota_exceeded") {
      const month = violated.find((policy) => policy.algorithm === "calendar-month");
      detail = `The key's monthly quota of ${month?.limit} requests is used up until the 1st of next month (UTC).`;
    } else if (names.length === 1 && names[0] === "minute") {
      detail = `The key allows ${violated[0]?.limit} requests per minute. Retry after ${retry} s.`;
    } else {
      detail = `Over the limit of ${violated.map(describePolicy).join(" and ")}. Retry after ${retry} s.`;
    }
    const refused = this.#refuse(code, detail, guarded, headers, apiKey);
    return { ...refused, problem: { ...refused.problem, "violated-policies": names } };
  }

  /** Tells the shadow policies' would-be refusals (they let the request pass). */
  #shadowRefused(apiKey: ApiKeyInfo, limits: KeyLimits, decision: LimitDecision): void {
    for (const index of decision.shadowRefused ?? []) {
      const policy = limits.policies[index] as LimitPolicy;
      this.#kg.countShadowRefusal({ keyId: apiKey.id, orgId: apiKey.orgId, policy: policy.name });
    }
  }

  #refuse(
    code: ErrorCode,
    detail: string,
    request: GuardedRequest,
    headers: Readonly<Record<string, string>> = {},
    apiKey?: ApiKeyInfo,
  ): GuardRefused {
    this.#kg.instruments.decisionRefused(code); // metrics: every refusal comes through here
    return {
      allowed: false,
      ...problemResponse(code, detail, headers),
      request,
      ...(apiKey === undefined ? {} : { apiKey }),
    };
  }
}

/** `"burst" (10 per 1 s)`, for a refusal's detail. */
function describePolicy(policy: LimitPolicy): string {
  const owner = policy.scope === "organization" ? "the organization's" : "the key's";
  if (policy.algorithm === "concurrency") {
    return `${owner} "${policy.name}" (${policy.limit} requests in flight at once)`;
  }
  return `${owner} "${policy.name}" (${policy.limit} per ${policy.windowMs / 1000} s)`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
