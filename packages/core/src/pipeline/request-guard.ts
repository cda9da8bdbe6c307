import type { ApiKeyInfo } from "../domain/api-key.js";
import { type ErrorCode, httpStatusFor } from "../errors/error-codes.js";
import { isKeyGuardError, KeyGuardError } from "../errors/keyguard-error.js";
import { isQuotaSeedLost } from "../errors/quota-seed-lost.js";
import type { VerifyOutcome, VerifyResult } from "../keys/key-verifier.js";
import { type CreditTerms, creditPeriod } from "../limits/credit-balance.js";
import type { LimitPolicy } from "../limits/limit-policy.js";
import { DEFAULT_ALGORITHM, type RateLimitAlgorithm } from "../limits/window-decision.js";
import type {
  ConcurrencySlot,
  IpBlock,
  LimitDecision,
  Limiter,
  LimitRequest,
} from "../ports/limiter.js";
import { ApiKeyReader } from "./api-key-reader.js";
import {
  countAuthFailure,
  countsAsFailure,
  DEFAULT_FAILURE_BLOCK_MS,
  DEFAULT_FAILURE_WINDOW_MS,
} from "./auth-failures.js";
import type { GuardContext } from "./guard-context.js";
import type { GuardRequest } from "./guard-request.js";
import { type KeyLimits, KeyLimitsCache } from "./key-limits.js";
import { LimitSeeding } from "./limit-seeding.js";
import { overLimitRefusal } from "./over-limit-refusal.js";
import {
  blockedDetail,
  type ProblemDetails,
  problemResponse,
  retryAfterSeconds,
} from "./problem-details.js";
import { normalizePath } from "./protected-path.js";
import { type RateLimitHeaderStyle, rateLimitHeaders } from "./rate-limit-headers.js";
import { type RequestCost, requestCost } from "./request-cost.js";
import { withHeader } from "./with-header.js";

/** How a protected route finds and limits keys. Every field has a safe default. */
export interface GuardOptions {
  /** Header carrying the key (case-insensitive). Default `x-api-key`. */
  readonly keyHeader?: string;
  /** Also accept `Authorization: Bearer <key>`. Default `true`. */
  readonly bearer?: boolean;
  /** Algorithm for the keys' windows that name none. Default the configured `algorithm` (sliding-window-log). */
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
 * The request pipeline every adapter runs: client address, IP rules and blocks, key
 * extraction and verification, failure counting and automatic blocking, one all-or-nothing
 * decision over the key's and its organization's policies, and usage logging after the
 * response. Framework-free: an adapter translates its request into a {@link GuardRequest},
 * calls {@link check}, writes out the result, and calls {@link complete} when the response
 * is finished.
 *
 * It depends on a {@link GuardContext} (what it needs of `KeyGuard`, nothing more) and the
 * limiter, so its rules are tested with a fake clock and no facade.
 */
export class RequestGuard {
  readonly #context: GuardContext;
  readonly #limiter: Limiter;
  readonly #keys: ApiKeyReader;
  /** Each key's policies and constant header parts, kept with the cached key. */
  readonly #keyLimits: KeyLimitsCache;
  readonly #failureWindowMs: number;
  readonly #blockDurationMs: number;
  readonly #headerStyle: RateLimitHeaderStyle;
  readonly #failOpen: boolean;
  /** Quota months and credit periods started from the store's counts. */
  readonly #seeding: LimitSeeding;
  /** Until the stored manual blocks are loaded, requests wait for them. */
  #blocksLoaded: Promise<void> | undefined;

  constructor(context: GuardContext, limiter: Limiter, options: GuardOptions = {}) {
    this.#context = context;
    this.#limiter = limiter;
    this.#keys = new ApiKeyReader(options.keyHeader ?? "x-api-key", options.bearer ?? true);
    this.#keyLimits = new KeyLimitsCache(options.algorithm ?? DEFAULT_ALGORITHM);
    this.#failureWindowMs = options.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS;
    this.#blockDurationMs = options.blockDurationMs ?? DEFAULT_FAILURE_BLOCK_MS;
    this.#headerStyle = options.rateLimitHeaders ?? "both";
    this.#failOpen = options.failOpen ?? false;
    this.#seeding = new LimitSeeding(limiter, context.usageCounts);
    this.#blocksLoaded = Promise.all([context.syncBlocks(), context.syncIpRules()]).then(() => {
      this.#blocksLoaded = undefined;
    });
  }

  /** The client identity limits and blocks apply to (IP, or IPv6 /64): `KeyGuard.clientOf`. */
  clientOf(request: GuardRequest): string {
    return this.#context.clientOf(request);
  }

  /**
   * Runs the pipeline for one request, spending `cost` of each of its key's policies
   * (default 1; 0 checks without spending). A function cost is called with `costInput`
   * (the framework's request). Never rejects: failures, a cost function's among them,
   * become 503 problems.
   */
  async check<R = undefined>(
    request: GuardRequest,
    costOption: RequestCost<R> = 1,
    costInput?: R,
  ): Promise<GuardResult> {
    return this.checkNow(request, costOption, costInput);
  }

  /**
   * {@link check}, answered at once when nothing has to wait (the key is in the cache, the
   * limiter decides in this process, no quota to seed) and promised otherwise: what the
   * adapters call, so a request served from memory costs no promise and no microtask.
   * Never throws, and a promise it returns never rejects.
   */
  checkNow<R = undefined>(
    request: GuardRequest,
    costOption: RequestCost<R> = 1,
    costInput?: R,
  ): GuardResult | Promise<GuardResult> {
    const startedAt = this.#context.clock.now();
    let guarded: GuardedRequest;
    try {
      // Blocks, limits and usage rows are keyed by the normalised routed path: /LOGIN,
      // /login/ and /login#1 are the same route, and no spelling is longer than
      // MAX_KEYED_PATH_LENGTH.
      guarded = {
        client: this.clientOf(request),
        method: request.method,
        path: normalizePath(request.path),
        startedAt,
      };
    } catch (error) {
      // Not even the client could be told: refused as unverifiable, keyed by nothing.
      guarded = { client: "unknown", method: request.method, path: "/", startedAt };
      return this.#unavailable(error, guarded);
    }
    const loading = this.#blocksLoaded;
    if (loading === undefined) return this.#screen(request, guarded, costOption, costInput);
    return loading.then(
      () => this.#screen(request, guarded, costOption, costInput),
      (error: unknown) => this.#unavailable(error, guarded),
    );
  }

  /** IP rules, manual blocks and the key's verification: the part before any limit. */
  #screen<R>(
    request: GuardRequest,
    guarded: GuardedRequest,
    costOption: RequestCost<R>,
    costInput: R | undefined,
  ): GuardResult | Promise<GuardResult> {
    const context = this.#context;
    const { client, path, startedAt } = guarded;
    try {
      const cost = requestCost(costOption, costInput as R);
      // IP rules first: a denied client gets nothing else (no key work at all); an allowed
      // one is never blocked, counted or limited (see ip-rules/ip-rule-service.ts).
      const ipRule = context.ipRuleFor(request);
      if (ipRule === "deny") return this.#refuse("ip_denied", IP_DENIED_DETAIL, guarded);
      const allowListed = ipRule === "allow";
      const manual = allowListed ? undefined : context.findManualBlock(client, path, startedAt);
      if (manual !== undefined) {
        return this.#blockedBy(manual, guarded);
      }
      const rawKey = this.#keys.read(request);
      if (!rawKey.ok) {
        return this.#refuseKey(request, guarded, allowListed, rawKey.detail, undefined);
      }
      const verified = context.verifyKey(rawKey.value);
      if (verified instanceof Promise) {
        return verified.then(
          (answer) => this.#admit(request, guarded, cost, allowListed, answer),
          (error: unknown) => this.#unavailable(error, guarded),
        );
      }
      return this.#admit(request, guarded, cost, allowListed, verified);
    } catch (error) {
      return this.#unavailable(error, guarded);
    }
  }

  /** What a verified key may do from this client; then the limits, seeded first if due. */
  #admit(
    request: GuardRequest,
    guarded: GuardedRequest,
    cost: number,
    allowListed: boolean,
    verified: VerifyResult,
  ): GuardResult | Promise<GuardResult> {
    try {
      if (verified.outcome !== "valid") {
        return this.#refuseKey(request, guarded, allowListed, undefined, verified);
      }
      const apiKey = verified.key;
      if (!this.#context.keyAllowsClient(apiKey, request)) {
        return this.#refuseClient(request, guarded, allowListed, apiKey);
      }
      // Allow-listed clients (health checkers, internal networks) are never limited.
      if (allowListed) {
        this.#context.instruments.decisionAllowed(); // metrics
        return { allowed: true, apiKey, headers: {}, request: guarded, charged: false };
      }
      const limits = this.#keyLimits.of(apiKey);
      const terms =
        limits.creditsIndex < 0
          ? undefined
          : (limits.policies[limits.creditsIndex] as LimitPolicy).credits;
      const seeding = this.#seeding;
      const { startedAt } = guarded;
      // Nearly always seeded already, and then nothing to wait for.
      const quotaDue = apiKey.monthlyLimit !== null && seeding.quotaDue(apiKey.quotaId, startedAt);
      const creditsDue =
        terms !== undefined && seeding.creditsDue(apiKey.quotaId, terms, startedAt);
      if (quotaDue || creditsDue) {
        return this.#seedThenLimit(guarded, cost, apiKey, limits, terms, quotaDue, creditsDue);
      }
      return this.#limit(guarded, cost, apiKey, limits, terms);
    } catch (error) {
      return this.#unavailable(error, guarded);
    }
  }

  /** Seeds the key's quota month and/or credit period from the store, then decides. */
  async #seedThenLimit(
    guarded: GuardedRequest,
    cost: number,
    apiKey: ApiKeyInfo,
    limits: KeyLimits,
    terms: CreditTerms | undefined,
    quotaDue: boolean,
    creditsDue: boolean,
  ): Promise<GuardResult> {
    const seeding = this.#seeding;
    const { startedAt } = guarded;
    try {
      await Promise.all([
        quotaDue ? seeding.seedQuota(apiKey.quotaId, apiKey.orgId, startedAt) : undefined,
        creditsDue && terms !== undefined
          ? seeding.seedCredits(apiKey.quotaId, apiKey.orgId, terms, startedAt)
          : undefined,
      ]);
      return await this.#limit(guarded, cost, apiKey, limits, terms);
    } catch (error) {
      return this.#unavailable(error, guarded);
    }
  }

  /** One all-or-nothing decision over the key's policies: in memory, at once. */
  #limit(
    guarded: GuardedRequest,
    cost: number,
    apiKey: ApiKeyInfo,
    limits: KeyLimits,
    terms: CreditTerms | undefined,
  ): GuardResult | Promise<GuardResult> {
    const limitRequest: LimitRequest = {
      now: guarded.startedAt,
      client: guarded.client,
      path: guarded.path,
      key: apiKey, // has the id, quota and organization the port reads; no copy per request
      policies: limits.policies,
      cost,
    };
    const limiter = this.#limiter;
    if (limiter.decideNow !== undefined) {
      let decision: LimitDecision;
      try {
        decision = limiter.decideNow(limitRequest);
      } catch (lost) {
        return this.#decideAgain(lost, limitRequest, guarded, apiKey, limits, terms);
      }
      return this.#answer(decision, guarded, apiKey, limits, terms, cost);
    }
    let decided: Promise<LimitDecision>;
    try {
      decided = limiter.decide(limitRequest);
    } catch (lost) {
      // A limiter that throws instead of rejecting fails the same way (failOpen, seeding).
      return this.#decideAgain(lost, limitRequest, guarded, apiKey, limits, terms);
    }
    return decided
      .then(
        (decision) => this.#answer(decision, guarded, apiKey, limits, terms, cost),
        (lost: unknown) => this.#decideAgain(lost, limitRequest, guarded, apiKey, limits, terms),
      )
      .catch((error: unknown) => this.#unavailable(error, guarded));
  }

  /**
   * After a decision failed: seeds again and asks once more if the limiter lost the key's
   * counts (Redis restarted empty, flushed; counted from zero it would hand the quota out
   * again); any other failure is a 503, or with `failOpen` a pass without limits.
   */
  async #decideAgain(
    lost: unknown,
    limitRequest: LimitRequest,
    guarded: GuardedRequest,
    apiKey: ApiKeyInfo,
    limits: KeyLimits,
    terms: CreditTerms | undefined,
  ): Promise<GuardResult> {
    const context = this.#context;
    const seeding = this.#seeding;
    const { startedAt } = guarded;
    let decision: LimitDecision;
    try {
      if (!isQuotaSeedLost(lost)) throw lost;
      await Promise.all([
        seeding.seedQuota(apiKey.quotaId, apiKey.orgId, startedAt),
        terms === undefined
          ? undefined
          : seeding.seedCredits(apiKey.quotaId, apiKey.orgId, terms, startedAt),
      ]);
      decision = await this.#limiter.decide(limitRequest);
    } catch (error) {
      if (!this.#failOpen) return this.#unavailable(error, guarded);
      context.reportError(
        new KeyGuardError(
          "service_unavailable",
          `The limiter failed, so a request was let through unlimited (failOpen): ${messageOf(error)}`,
          { cause: error },
        ),
      );
      context.instruments.failedOpen(); // metrics: a pass the limiter did not decide
      context.instruments.decisionAllowed();
      return { allowed: true, apiKey, headers: {}, request: guarded };
    }
    try {
      return this.#answer(decision, guarded, apiKey, limits, terms, limitRequest.cost ?? 1);
    } catch (error) {
      return this.#unavailable(error, guarded);
    }
  }

  /** The limiter's decision as a result: the headers, and the refusal's problem if refused. */
  #answer(
    decision: LimitDecision,
    guarded: GuardedRequest,
    apiKey: ApiKeyInfo,
    limits: KeyLimits,
    terms: CreditTerms | undefined,
    cost: number,
  ): GuardResult {
    const context = this.#context;
    const { startedAt } = guarded;
    if (decision.shadowRefused !== undefined) this.#shadowRefused(apiKey, limits, decision);
    const headers = rateLimitHeaders(limits.headers, decision, startedAt, this.#headerStyle);
    if (decision.allowed) {
      context.instruments.decisionAllowed(); // metrics
      if (terms === undefined || cost === 0) {
        return decision.slot === undefined
          ? { allowed: true, apiKey, headers, request: guarded }
          : { allowed: true, apiKey, headers, request: guarded, slot: decision.slot };
      }
      const state = decision.policies[limits.creditsIndex];
      const periodStart = creditPeriod(terms, startedAt).start;
      if (state !== undefined) {
        context.notices.creditsSpent(apiKey, periodStart, state.limit, state.remaining, startedAt);
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
      context.notices.quotaExceeded(apiKey, startedAt); // memory only: no I/O here
    }
    const refusal = overLimitRefusal(limits.policies, decision, wait["retry-after"]);
    const refused = this.#refuse(refusal.code, refusal.detail, guarded, wait, apiKey);
    return {
      ...refused,
      problem: { ...refused.problem, "violated-policies": refusal.violatedPolicies },
    };
  }

  /**
   * A request without a valid key: blocked if its client is (a wrong key counted toward
   * `ipBlockThreshold` first), else refused for its key. `unreadable` is the reason a key
   * could not be read at all (two keys, a repeated header).
   */
  async #refuseKey(
    request: GuardRequest,
    guarded: GuardedRequest,
    allowListed: boolean,
    unreadable: string | undefined,
    verified: Exclude<VerifyResult, { outcome: "valid" }> | undefined,
  ): Promise<GuardResult> {
    try {
      const { client, path, startedAt } = guarded;
      const wrongKey = verified === undefined || WRONG_KEY[verified.outcome];
      const block = allowListed
        ? undefined
        : await this.#blockOrCountFailure(request, client, path, startedAt, wrongKey);
      if (block !== undefined) {
        return this.#blockedBy(block, guarded);
      }
      const challenge = this.#keys.challenge;
      if (verified === undefined) {
        return this.#refuse("invalid_api_key", unreadable as string, guarded, challenge);
      }
      if (verified.outcome === "missing") {
        return this.#refuse("missing_api_key", this.#keys.missingDetail, guarded, challenge);
      }
      return this.#refuse(
        verified.code,
        KEY_REFUSAL_DETAIL[verified.outcome],
        guarded,
        httpStatusFor(verified.code) === 401 ? challenge : {},
      );
    } catch (error) {
      return this.#unavailable(error, guarded);
    }
  }

  /** A genuine key used from a client its `allowed_ips` exclude: treated as a stolen one. */
  async #refuseClient(
    request: GuardRequest,
    guarded: GuardedRequest,
    allowListed: boolean,
    apiKey: ApiKeyInfo,
  ): Promise<GuardResult> {
    try {
      const { client, path, startedAt } = guarded;
      // A failed attempt, counted toward `ipBlockThreshold` like a wrong key.
      const block = allowListed
        ? undefined
        : await this.#blockOrCountFailure(request, client, path, startedAt, true);
      if (block !== undefined) {
        return this.#blockedBy(block, guarded);
      }
      return this.#refuse("ip_not_allowed", IP_NOT_ALLOWED_DETAIL, guarded, {}, apiKey);
    } catch (error) {
      return this.#unavailable(error, guarded);
    }
  }

  /** A request from a blocked client: 403 `ip_blocked`, with when to retry. */
  #blockedBy(block: IpBlock, guarded: GuardedRequest): GuardRefused {
    const { startedAt } = guarded;
    return this.#refuse("ip_blocked", blockedDetail(block.untilMs, startedAt), guarded, {
      "retry-after": retryAfterSeconds(block.untilMs - startedAt),
    });
  }

  /** A request the pipeline could not decide: 503, reported (rate limited per kind). */
  #unavailable(error: unknown, guarded: GuardedRequest): GuardRefused {
    this.#context.reportError(
      new KeyGuardError(
        "service_unavailable",
        `A protected request was answered 503: ${messageOf(error)}`,
        { cause: error },
      ),
    );
    const detail = isKeyGuardError(error, "database_unavailable")
      ? "API keys cannot be verified right now. Retry shortly."
      : "The request could not be checked right now. Retry shortly.";
    return this.#refuse("service_unavailable", detail, guarded, { "retry-after": "5" });
  }

  /**
   * Gives back the concurrency slot an allowed request holds, if any: once its response
   * is over or its connection closed (`completeOnClose` does both). Harmless to call again.
   * A release that fails (Redis down) is reported, not thrown: the slot's lease ends it.
   */
  releaseSlot(result: GuardResult): void {
    if (!result.allowed || result.slot === undefined) return;
    result.slot.release().catch((error: unknown) => {
      this.#context.reportError(
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
    this.#context.recordUsage({
      keyId: apiKey.id,
      path,
      method,
      statusCode,
      latencyMs: this.#context.clock.now() - startedAt,
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

  /** Automatic blocks are stored, so a restart does not lift them. */
  readonly #recordBlock = (block: IpBlock) => this.#context.blockAutomatically(block);

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
      this.#context.reportError(error);
      return undefined;
    }
  }

  async #countFailure(client: string, now: number): Promise<void> {
    await countAuthFailure(
      this.#limiter,
      client,
      now,
      {
        threshold: this.#context.ipBlockThreshold,
        windowMs: this.#failureWindowMs,
        blockMs: this.#blockDurationMs,
      },
      this.#recordBlock,
    );
  }

  /** Tells the shadow policies' would-be refusals (they let the request pass). */
  #shadowRefused(apiKey: ApiKeyInfo, limits: KeyLimits, decision: LimitDecision): void {
    for (const index of decision.shadowRefused ?? []) {
      const policy = limits.policies[index] as LimitPolicy;
      this.#context.countShadowRefusal({
        keyId: apiKey.id,
        orgId: apiKey.orgId,
        policy: policy.name,
      });
    }
  }

  #refuse(
    code: ErrorCode,
    detail: string,
    request: GuardedRequest,
    headers: Readonly<Record<string, string>> = {},
    apiKey?: ApiKeyInfo,
  ): GuardRefused {
    this.#context.instruments.decisionRefused(code); // metrics: every refusal comes through here
    return {
      allowed: false,
      ...problemResponse(code, detail, headers),
      request,
      ...(apiKey === undefined ? {} : { apiKey }),
    };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
