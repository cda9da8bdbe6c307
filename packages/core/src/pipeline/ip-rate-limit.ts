import type { ErrorCode } from "../errors/error-codes.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { type LockoutEnd, lockoutEnd } from "../limits/lockout-end.js";
import type { RateLimitAlgorithm } from "../limits/window-decision.js";
import type { Limiter } from "../ports/limiter.js";
import type { ClientChecks } from "./guard-context.js";
import type { GuardRequest } from "./guard-request.js";
import {
  blockedDetail,
  type ProblemDetails,
  problemResponse,
  retryAfterSeconds,
} from "./problem-details.js";
import { normalizePath } from "./protected-path.js";
import { withHeader } from "./with-header.js";

/** keyguard-python's `rate_limit_by_ip`: a per-client limit for routes without API keys. */
export interface IpRateLimitRule {
  /** Requests allowed per window per client. */
  readonly limit: number;
  /** Window length. Default one minute. */
  readonly windowMs?: number;
  /**
   * Past the limit, block the client instead of only refusing the extra requests: seconds
   * (`86400`), a duration (`"1 hour"`), or a clock time (`"4:00 PM"`, `"16:00"`: until its
   * next occurrence in the configured `timeZone`).
   */
  readonly lockout?: number | string;
  /** What a lockout blocks: `"path"` (default) this route only; `"global"` every protected route. */
  readonly scope?: "path" | "global";
  readonly algorithm?: RateLimitAlgorithm;
  /** What each request counts toward `limit` (default 1; 0 only looks). */
  readonly cost?: number;
}

export type IpRateLimitResult =
  | { readonly allowed: true; readonly headers: Readonly<Record<string, string>> }
  | {
      readonly allowed: false;
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly problem: ProblemDetails;
    };

/**
 * One `rateLimitByIp` rule, ready to check requests. Built once per route (the rule is
 * validated then); adapters call {@link check} and write out the result.
 */
export class IpRateLimit {
  readonly #context: ClientChecks;
  readonly #limiter: Limiter;
  readonly #cost: number;
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #lockoutEnd: LockoutEnd | undefined;
  readonly #scope: "path" | "global";
  readonly #algorithm: RateLimitAlgorithm;

  constructor(
    context: ClientChecks,
    limiter: Limiter,
    rule: IpRateLimitRule,
    /** Where a lockout's clock time (`"4:00 PM"`) is read: the configured `timeZone`. */
    timeZone: string,
  ) {
    if (!Number.isInteger(rule.limit) || rule.limit < 1) {
      throw new KeyGuardError(
        "invalid_config",
        "rateLimitByIp: limit must be a whole number of requests, at least 1",
      );
    }
    const windowMs = rule.windowMs ?? 60_000;
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new KeyGuardError(
        "invalid_config",
        "rateLimitByIp: windowMs must be a positive number of milliseconds",
      );
    }
    if (rule.scope !== undefined && rule.scope !== "path" && rule.scope !== "global") {
      throw new KeyGuardError("invalid_config", 'rateLimitByIp: scope must be "path" or "global"');
    }
    const cost = rule.cost ?? 1;
    if (!Number.isSafeInteger(cost) || cost < 0 || cost > 1_000_000_000) {
      throw new KeyGuardError(
        "invalid_config",
        "rateLimitByIp: cost must be a whole number from 0 to 1,000,000,000",
      );
    }
    this.#cost = cost;
    this.#context = context;
    this.#limiter = limiter;
    this.#limit = rule.limit;
    this.#windowMs = windowMs;
    this.#lockoutEnd = rule.lockout === undefined ? undefined : lockoutEnd(rule.lockout, timeZone);
    this.#scope = rule.scope ?? "path";
    this.#algorithm = rule.algorithm ?? "sliding-window-log";
    void context.syncBlocks();
  }

  /** Checks one request. Never throws: a limiter failure is a 503 problem. */
  async check(request: GuardRequest): Promise<IpRateLimitResult> {
    const context = this.#context;
    const now = context.clock.now();
    // Counted and blocked per normalised path: /LOGIN and /login/ must not escape /login's limit.
    const path = normalizePath(request.path);
    const client = context.clientOf(request);
    try {
      await Promise.all([context.syncBlocks(), context.syncIpRules()]);
      const ipRule = context.ipRuleFor(request);
      if (ipRule === "deny") {
        return refuse("ip_denied", "Requests from this IP address are not accepted.", {});
      }
      if (ipRule === "allow") return { allowed: true, headers: {} }; // never limited
      const block = await context.findBlock(client, path, now);
      if (block !== undefined) {
        return refuse("ip_blocked", blockedDetail(block.untilMs, now), {
          "retry-after": retryAfterSeconds(block.untilMs - now),
        });
      }
      const bucket = `ip-rule:${this.#limit}/${this.#windowMs}:${path}:${client}`;
      const decision = await this.#limiter.hit(
        bucket,
        now,
        this.#limit,
        this.#windowMs,
        this.#algorithm,
        this.#cost,
      );
      const headers = {
        "x-ratelimit-limit": String(this.#limit),
        "x-ratelimit-remaining": String(decision.remaining),
        "x-ratelimit-reset": String(Math.ceil(decision.resetAtMs / 1000)),
      };
      if (decision.allowed) return { allowed: true, headers };
      if (this.#lockoutEnd === undefined) {
        return refuse(
          "rate_limited",
          `Too many requests: ${this.#limit} allowed per ${retryAfterSeconds(this.#windowMs)} s.`,
          withHeader(headers, "retry-after", retryAfterSeconds(decision.retryAfterMs)),
        );
      }
      const untilMs = this.#lockoutEnd(now);
      // Stored as well, so restarting the server does not end a lockout early.
      await context.blockAutomatically({
        client,
        scope: this.#scope,
        ...(this.#scope === "path" ? { path } : {}),
        untilMs,
        reason: "lockout",
        automatic: true,
      });
      await this.#limiter.reset(bucket);
      // The request that starts a lockout is answered as every request during it will be:
      // 403 ip_blocked with the time left, as a client blocked for wrong API keys is. (It
      // used to be a 429 with an ISO time, then 403s with seconds: two answers for one
      // state, and a client told "retry later" by the 429 met a 403 when it did.)
      return refuse("ip_blocked", blockedDetail(untilMs, now), {
        "retry-after": retryAfterSeconds(untilMs - now),
      });
    } catch (error) {
      context.reportError(
        new KeyGuardError(
          "service_unavailable",
          `A rateLimitByIp request was answered 503: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        ),
      );
      return refuse(
        "service_unavailable",
        "The request could not be checked right now. Retry shortly.",
        {
          "retry-after": "5",
        },
      );
    }
  }
}

function refuse(
  code: ErrorCode,
  detail: string,
  headers: Record<string, string>,
): IpRateLimitResult {
  return { allowed: false, ...problemResponse(code, detail, headers) };
}
