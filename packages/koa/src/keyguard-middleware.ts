import type {
  ApiKeyInfo,
  BlockOptions,
  GuardOptions,
  GuardRequest,
  IpBlock,
  IpRateLimitRule,
  KeyGuard,
  ProblemDetails,
  RequestCost,
} from "@keyguard/core";
import {
  checkCostOption,
  completeOnClose,
  createPathMatcher,
  missingScopes,
  nodeGuardRequest,
  PROBLEM_CONTENT_TYPE,
  problemFor,
  setHeaders,
} from "@keyguard/core/internal";
import type { Context, Middleware } from "koa";

declare module "koa" {
  interface DefaultState {
    /** The verified API key (without its hash), set by KeyGuard on protected routes. */
    apiKey?: ApiKeyInfo;
  }
}

export interface KeyGuardKoaOptions extends GuardOptions {
  /**
   * Protect only requests under this path (keyguard-python's `protected_path="/api"`). Omit it
   * to protect everything the middleware runs for (e.g. one router's routes).
   */
  readonly protectedPath?: string;
  /**
   * What each request spends of its key's limits: a number or a function of the context
   * (default 1; 0 checks without spending; whole numbers up to 1,000,000,000). A number out
   * of bounds throws here; a function that throws or answers something else gets its
   * request a 503 (reported to `onBackgroundError`). For a costlier route, give it a
   * middleware of its own, on a route no app-wide one guards too:
   * `router.get("/api/report", keyguard(kg, { cost: 5 }), handler)`.
   */
  readonly cost?: RequestCost<Context>;
}

/** A target with no path (`http://`) or none a URL parser reads (`http://[::1`): never passed on. */
const UNROUTABLE_TARGET = problemFor("bad_request", "The request target has no path to route.");

function sendProblem(
  ctx: Context,
  status: number,
  headers: Record<string, string>,
  problem: ProblemDetails,
): void {
  ctx.status = status;
  ctx.set(headers);
  ctx.body = JSON.stringify(problem);
  ctx.type = PROBLEM_CONTENT_TYPE;
}

/**
 * KeyGuard as Koa middleware: verifies the key, applies limits and blocks, sets the
 * rate-limit headers, puts the key in `ctx.state.apiKey`, and logs usage when the
 * response is over. Decided on `ctx.path`, the parsed pathname Koa's routers route, so no
 * spelling of the request target reaches a protected route around it.
 *
 * @example
 * ```ts
 * app.use(keyguard(kg, { protectedPath: "/api" }));
 * router.get("/api/data", (ctx) => { ctx.body = { message: "Authorized!" }; });
 * ```
 */
export function keyguard(kg: KeyGuard, options: KeyGuardKoaOptions = {}): Middleware {
  const guard = kg.guard(options);
  const { protectedPath } = options;
  const cost = checkCostOption(options.cost, "keyguard(kg, { cost })");
  const underProtectedPath =
    protectedPath === undefined ? undefined : createPathMatcher(protectedPath);
  return async (ctx, next) => {
    const path = routedPath(ctx);
    if (path === undefined) {
      sendProblem(ctx, 400, {}, UNROUTABLE_TARGET);
      return;
    }
    if (underProtectedPath !== undefined && !underProtectedPath(path)) {
      await next();
      return;
    }
    const checked = guard.checkNow(nodeGuardRequest(ctx.req, path), cost, ctx);
    // Decided in memory (a cached key, the memory limiter) it is a result, not a promise:
    // nothing to wait for.
    const result = checked instanceof Promise ? await checked : checked;
    completeOnClose(ctx.res, guard, result);
    if (!result.allowed) {
      sendProblem(ctx, result.status, result.headers, result.problem);
      return;
    }
    ctx.state.apiKey = result.apiKey;
    // Straight onto the Node response Koa writes out: `ctx.set` only adds a wrapper call per
    // field, and no header has been sent this early.
    setHeaders(ctx.res, result.headers);
    await next();
  };
}

/**
 * The path Koa's routers match: `ctx.path`, the parsed pathname, so `http://h/api/data` and
 * `/api/data#x` are seen as `/api/data`. `undefined` for a target with no path (`http://`)
 * or none the URL parser reads (`http://[::1`, where `ctx.path` throws).
 */
export function routedPath(ctx: Context): string | undefined {
  try {
    return ctx.path ?? undefined;
  } catch {
    return undefined;
  }
}

/** What KeyGuard's core needs from a Koa request (shared with the admin middleware). */
export function toGuardRequest(ctx: Context): GuardRequest {
  return nodeGuardRequest(ctx.req, routedPath(ctx) ?? "/");
}

/**
 * keyguard-python's `rate_limit_by_ip` for routes without keys (login, signup, ...).
 *
 * @example
 * ```ts
 * router.post("/login", rateLimitByIp(kg, { limit: 3, lockout: 86400 }), login);
 * ```
 */
export function rateLimitByIp(kg: KeyGuard, rule: IpRateLimitRule): Middleware {
  const limit = kg.ipRateLimit(rule);
  return async (ctx, next) => {
    const result = await limit.check(toGuardRequest(ctx));
    if (!result.allowed) {
      sendProblem(ctx, result.status, result.headers, result.problem);
      return;
    }
    ctx.set(result.headers);
    await next();
  };
}

/** Blocks the client of `ctx` from inside a handler (keyguard-python's `block_request`). */
export function blockRequest(
  kg: KeyGuard,
  ctx: Context,
  options: BlockOptions = {},
): Promise<IpBlock> {
  return kg.blockRequest(toGuardRequest(ctx), options);
}

/** Refuses (403 `insufficient_scope`) a request whose key lacks any of `scopes`. */
export function requireScopes(...scopes: string[]): Middleware {
  return async (ctx, next) => {
    const problem = missingScopes(ctx.state.apiKey as ApiKeyInfo | undefined, scopes);
    if (problem !== undefined) {
      sendProblem(ctx, problem.status, {}, problem);
      return;
    }
    await next();
  };
}
