import {
  type ApiKeyInfo,
  type GuardOptions,
  type GuardResult,
  isProtectedPath,
  type KeyGuard,
  missingScopes,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  pathOf,
  problemFor,
} from "@keyguard/core";
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
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

const plugin: FastifyPluginAsync<KeyGuardFastifyOptions> = async (fastify, options) => {
  const guard = options.kg.guard(options);
  const results = new WeakMap<FastifyRequest, GuardResult>();
  fastify.decorateRequest("apiKey", null);

  fastify.addHook("onRequest", async (request, reply) => {
    const routeConfig = request.routeOptions.config?.keyguard;
    const path = pathOf(request.url);
    const protect =
      routeConfig === false
        ? false
        : routeConfig !== undefined ||
          options.protectedPath === undefined ||
          isProtectedPath(path, options.protectedPath);
    if (!protect) return;
    const result = await guard.check({
      method: request.method,
      path,
      remoteAddress: request.raw.socket.remoteAddress,
      header: (name) => request.headers[name],
    });
    if (result.apiKey !== undefined) results.set(request, result);
    if (!result.allowed) return sendProblem(reply, result.status, result.headers, result.problem);
    request.apiKey = result.apiKey;
    reply.headers(result.headers);
    const scopes = typeof routeConfig === "object" ? routeConfig.scopes : undefined;
    const problem = scopes === undefined ? undefined : missingScopes(result.apiKey, scopes);
    if (problem !== undefined) return sendProblem(reply, problem.status, {}, problem);
  });

  fastify.addHook("onResponse", async (request, reply) => {
    const result = results.get(request);
    if (result !== undefined) guard.complete(result, reply.statusCode);
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

/** A `preHandler` refusing (403 `insufficient_scope`) a request whose key lacks any of `scopes`. */
export function requireScopes(...scopes: string[]): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const problem =
      request.apiKey === null
        ? problemFor(
            "missing_api_key",
            "This route needs an API key, but KeyGuard did not run before it.",
          )
        : missingScopes(request.apiKey, scopes);
    if (problem !== undefined) return sendProblem(reply, problem.status, {}, problem);
  };
}
