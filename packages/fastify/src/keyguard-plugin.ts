import type { ApiKeyInfo, GuardOptions, GuardResult, KeyGuard, RequestCost } from "@keyguard/core";
import {
  checkCostOption,
  completeOnClose,
  createPathMatcher,
  missingScopes,
  nodeGuardRequest,
  pathOf,
} from "@keyguard/core/internal";
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
  RouteOptions,
} from "fastify";
import fp from "fastify-plugin";
import { routedPath, sendProblem } from "./request-bridge.js";
import { routeProtection } from "./route-protection.js";

/** Per-route KeyGuard settings, in a route's `config.keyguard`. */
export type KeyGuardRouteConfig =
  /** `true`: protect this route; `false`: never protect it (even under `protectedPath`). */
  | boolean
  /**
   * Protect this route, require these scopes, and spend `cost` of the key's limits per
   * request (a number or a function of the request; default the plugin's `cost`, else 1).
   */
  | { readonly scopes?: readonly string[]; readonly cost?: RequestCost<FastifyRequest> };

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
   * Protect routes under this path (keyguard-python's `protected_path="/api"`). Without it, every
   * route in the plugin's scope is protected unless its `config.keyguard` is `false`.
   */
  readonly protectedPath?: string;
  /**
   * What each request spends of its key's limits (a number or a function of the request;
   * default 1; 0 checks without spending). A route's `config.keyguard.cost` overrides it.
   */
  readonly cost?: RequestCost<FastifyRequest>;
}

/** Marks, in a route's config, that `onRoute` decided its protection. */
const kDecided = Symbol("keyguard.decided");

const plugin: FastifyPluginAsync<KeyGuardFastifyOptions> = async (fastify, options) => {
  const guard = options.kg.guard(options);
  const { protectedPath } = options;
  const pluginCost = checkCostOption(options.cost, "keyguard plugin option cost");
  const underProtectedPath =
    protectedPath === undefined ? () => true : createPathMatcher(protectedPath);
  fastify.decorateRequest("apiKey", null);

  /**
   * Writes a guard result onto the reply and lets the request go on (`done()`) or, having
   * answered it, does not: Fastify's rule for a callback hook that replies itself.
   */
  const settle = (
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    scopes: readonly string[] | undefined,
    result: GuardResult,
  ): void => {
    try {
      // Usage is logged when the response closes (a hang-up included), not in `onResponse`,
      // which a client that hangs up mid-request never reaches; it also spares every
      // response Fastify's `onResponse` hook machinery.
      completeOnClose(reply.raw, guard, result);
      if (!result.allowed) {
        sendProblem(reply, result.status, result.headers, result.problem);
        return;
      }
      request.apiKey = result.apiKey;
      reply.headers(result.headers);
      const problem = scopes === undefined ? undefined : missingScopes(result.apiKey, scopes);
      if (problem !== undefined) {
        sendProblem(reply, problem.status, {}, problem);
        return;
      }
    } catch (error) {
      // Fastify's error handling answers, unless the reply went out before the failure.
      if (reply.sent) options.kg.reportError(error);
      else done(error as Error);
      return;
    }
    done();
  };

  /**
   * Runs the pipeline for a request and settles it. Callback style: a request decided in
   * memory (a cached key, the memory limiter) is settled before the hook returns, with no
   * promise for Fastify to wait on. `path`: the matched route's URL, known when the hook
   * was made (no per-request look-up).
   */
  const runGuard = (
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    scopes: readonly string[] | undefined,
    path: string,
    cost: RequestCost<FastifyRequest> | undefined,
  ): void => {
    const result = guard.checkNow(nodeGuardRequest(request.raw, path), cost, request);
    if (result instanceof Promise) {
      // The pipeline never rejects (failures are 503 results) and `settle` catches its own:
      // what could still escape (`done` throwing) is reported, never an unhandled rejection.
      result
        .then((settled) => settle(request, reply, done, scopes, settled))
        .catch((error: unknown) => options.kg.reportError(error));
    } else settle(request, reply, done, scopes, result);
  };

  /**
   * A route's protection is decided when it is registered, on its URL pattern: a request
   * then reaches a protected handler only through this hook, whatever its target looked like
   * (`http://h/api/data`, `/%61pi/data#%zz`). Only a pattern with a parameter where the
   * protected path is decided (`/:tenant/data`) is checked per request, on the routed path.
   */
  fastify.addHook("onRoute", (route: RouteOptions) => {
    const routeConfig = route.config?.keyguard;
    route.config = { ...route.config, [kDecided]: true } as typeof route.config;
    if (routeConfig === false) return;
    const scopes = typeof routeConfig === "object" ? routeConfig.scopes : undefined;
    // Checked as the route is registered: `app.get(...)` throws for a bad number.
    const cost =
      typeof routeConfig === "object" && routeConfig.cost !== undefined
        ? checkCostOption(
            routeConfig.cost,
            `route ${route.method} ${route.url} config.keyguard.cost`,
          )
        : pluginCost;
    const protection =
      routeConfig === undefined ? routeProtection(route.url, protectedPath) : "always";
    if (protection === "never") return;
    const path = route.url;
    const hook: onRequestHookHandler =
      protection === "always"
        ? (request, reply, done) => runGuard(request, reply, done, scopes, path, cost)
        : (request, reply, done) => {
            if (underProtectedPath(dynamicPath(request.url))) {
              runGuard(request, reply, done, scopes, path, cost);
            } else done();
          };
    const existing = route.onRequest;
    route.onRequest = [hook, ...(existing === undefined ? [] : [existing].flat())];
  });

  // Requests whose route was not decided above (404s, routes registered before the
  // plugin): decided by their routed path, as in the Express and Koa adapters. For the
  // routes decided above it only reads a flag.
  fastify.addHook("onRequest", (request, reply, done) => {
    const config = request.routeOptions.config as
      | { keyguard?: KeyGuardRouteConfig; [kDecided]?: true }
      | undefined;
    const routeConfig = config?.keyguard;
    if (
      config?.[kDecided] === true ||
      routeConfig === false ||
      (routeConfig === undefined && !underProtectedPath(dynamicPath(request.url)))
    ) {
      done();
      return;
    }
    const scopes = typeof routeConfig === "object" ? routeConfig.scopes : undefined;
    const cost =
      typeof routeConfig === "object" && routeConfig.cost !== undefined
        ? routeConfig.cost
        : pluginCost;
    runGuard(request, reply, done, scopes, routedPath(request), cost);
  });
};

/**
 * The path a request's target names, for the per-request checks: as find-my-way reads it
 * (absolute form dropped, cut at `?` or `#`), and also cut at `;`, which the router treats
 * as a query delimiter when `useSemicolonDelimiter` is on.
 */
function dynamicPath(url: string): string {
  const path = pathOf(url);
  const semicolon = path.indexOf(";");
  return semicolon === -1 ? path : path.slice(0, semicolon);
}

/**
 * KeyGuard as a Fastify plugin: verifies keys, applies limits and blocks, sets the
 * rate-limit headers, decorates `request.apiKey` and logs usage after each response.
 * Register it before the routes it protects (it decides each route's protection as the
 * route is added, like `@fastify/rate-limit`). Opt routes in or out with
 * `config: { keyguard: true | false | { scopes: [...] } }`.
 *
 * @example
 * ```ts
 * await app.register(keyguard, { kg, protectedPath: "/api" });
 * app.get("/api/data", async (request) => ({ message: "Authorized!", key: request.apiKey?.label }));
 * app.get("/api/admin", { config: { keyguard: { scopes: ["admin"] } } }, async () => ({ ok: true }));
 * ```
 */
export const keyguard = fp(plugin, { fastify: "5.x", name: "@keyguard/fastify" });
