import type { KeyGuard, MetricsEndpointOptions } from "@keyguard/core";
import { MetricsEndpoint } from "@keyguard/core/internal";
import type { Middleware } from "koa";
import { routedPath, toGuardRequest } from "./keyguard-middleware.js";

export interface KeyGuardMetricsKoaOptions extends MetricsEndpointOptions {
  /**
   * Answer only at this path (plain Koa: `app.use(keyguardMetrics(kg, { path: "/metrics" }))`).
   * Omit it on a router route, which decides the path itself.
   */
  readonly path?: string;
}

/**
 * Serves KeyGuard's Prometheus metrics (`kg.metrics`). Behind the admin key (`X-Admin-Key`)
 * unless `metrics.public` is configured (or `{ public: true }` passed).
 *
 * @example
 * ```ts
 * router.get("/metrics", keyguardMetrics(kg));
 * ```
 */
export function keyguardMetrics(kg: KeyGuard, options: KeyGuardMetricsKoaOptions = {}): Middleware {
  const endpoint = new MetricsEndpoint(kg, options);
  const only = options.path;
  return async (ctx, next) => {
    if (only !== undefined && routedPath(ctx) !== only) return next();
    const answer = await endpoint.answer(toGuardRequest(ctx));
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  };
}
