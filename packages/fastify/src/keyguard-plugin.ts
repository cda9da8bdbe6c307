import {
  type ApiKeyInfo,
  type BlockOptions,
  createPathMatcher,
  type GuardOptions,
  type GuardRequest,
  type GuardResult,
  type IpBlock,
  type IpRateLimitRule,
  type KeyGuard,
  missingScopes,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  pathOf,
} from "@keyguard/core";
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
  preHandlerAsyncHookHandler,
} from "fastify";
import fp from "fastify-plugin";

/** Per-route KeyGuard settings, in a route's `config.keyguard`. */
export type KeyGuardRouteConfig =
  /** `true`: protect this route; `false`: never protect it (even under `protectedPath`). */
  | boolean
  /** Protect this route and require these scopes. */
  | { readonly scopes?: readonly string[] };

declare module "fastify" {
  interface FastifyRequest {
    /** The verified API key (without its hash), set by KeyGuard on protected routes. */
    apiKey: ApiKeyInfo | null;
  }
  interface FastifyContextConfig {
    keyguard?: KeyGuardRouteConfig;
  }
}

export interface KeyGuardFastifyOptions extends GuardOptions {
  readonly kg: KeyGuard;
  /**
   * Protect requests under this path (the seed's `protected_path="/api"`). Without it,
   * every route in the plugin's scope is protected unless its `config.keyguard` is `false`.
   */
  readonly protectedPath?: string;
}

function sendProblem(
  reply: FastifyReply,
  status: number,
  headers: Record<string, string>,
  problem: ProblemDetails,
) {
  return reply
    .code(status)
    .headers(headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem));
}

/** Where the pipeline's result waits for `onResponse` (a symbol property: cheaper than a WeakMap). */
const kResult = Symbol("keyguard.result");
type WithResult = FastifyRequest & { [kResult]?: GuardResult };

const plugin: FastifyPluginAsync<KeyGuardFastifyOptions> = async (fastify, options) => {
  const guard = options.kg.guard(options);
  const underProtectedPath =
    options.protectedPath === undefined ? () => true : createPathMatcher(options.protectedPath);
  fastify.decorateRequest("apiKey", null);

  fastify.addHook("onRequest", async (request, reply) => {
    const routeConfig = request.routeOptions.config?.keyguard;
    const guardRequest = toGuardRequest(request);
    const protect =
      routeConfig === false
        ? false
        : routeConfig !== undefined || underProtectedPath(guardRequest.path);
    if (!protect) return;
    const result = await guard.check(guardRequest);
    if (result.apiKey !== undefined) (request as WithResult)[kResult] = result;
    if (!result.allowed) return sendProblem(reply, result.status, result.headers, result.problem);
    request.apiKey = result.apiKey;
    reply.headers(result.headers);
    const scopes = typeof routeConfig === "object" ? routeConfig.scopes : undefined;
    const problem = scopes === undefined ? undefined : missingScopes(result.apiKey, scopes);
    if (problem !== undefined) return sendProblem(reply, problem.status, {}, problem);
  });

  // Callback style: nothing to wait for, so no promise per response.
  fastify.addHook("onResponse", (request, reply, done) => {
    try {
      const result = (request as WithResult)[kResult];
      if (result !== undefined) guard.complete(result, reply.statusCode);
    } finally {
      done(); // even if logging ever threw: the response's life cycle must go on
    }
  });
};

/**
 * KeyGuard as a Fastify plugin: verifies keys, applies limits and blocks, sets the
 * rate-limit headers, decorates `request.apiKey` and logs usage after each response.
 * Opt routes in or out with `config: { keyguard: true | false | { scopes: [...] } }`.
 *
 * @example
 * ```ts
 * await app.register(keyguard, { kg, protectedPath: "/api" });
 * app.get("/api/data", async (request) => ({ message: "Authorized!", key: request.apiKey?.label }));
 * app.get("/api/admin", { config: { keyguard: { scopes: ["admin"] } } }, async () => ({ ok: true }));
 * ```
 */
export const keyguard = fp(plugin, { fastify: "5.x", name: "@keyguard/fastify" });

/** What KeyGuard's core needs from a Fastify request (shared with the admin plugin). */
export function toGuardRequest(request: FastifyRequest): GuardRequest {
  return {
    method: request.method,
    path: pathOf(request.url),
    remoteAddress: request.raw.socket.remoteAddress,
    header: (name) => request.headers[name],
  };
}

/**
 * The seed's `rate_limit_by_ip` as an `onRequest` hook for routes without keys.
 *
 * @example
 * ```ts
 * app.post("/login", { onRequest: rateLimitByIp(kg, { limit: 3, lockout: 86400 }) }, login);
 * ```
 */
export function rateLimitByIp(kg: KeyGuard, rule: IpRateLimitRule): onRequestAsyncHookHandler {
  const limit = kg.ipRateLimit(rule);
  return async (request, reply) => {
    const result = await limit.check(toGuardRequest(request));
    if (!result.allowed) return sendProblem(reply, result.status, result.headers, result.problem);
    reply.headers(result.headers);
  };
}

/** Blocks the client of `request` from inside a handler (the seed's `block_request`). */
export function blockRequest(
  kg: KeyGuard,
  request: FastifyRequest,
  options: BlockOptions = {},
): Promise<IpBlock> {
  return kg.blockRequest(toGuardRequest(request), options);
}

/** A `preHandler` refusing (403 `insufficient_scope`) a request whose key lacks any of `scopes`. */
export function requireScopes(...scopes: string[]): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const problem = missingScopes(request.apiKey, scopes);
    if (problem !== undefined) return sendProblem(reply, problem.status, {}, problem);
  };
}
