import type { KeyGuard, MetricsEndpointOptions } from "@keyguard/core";
import { MetricsEndpoint } from "@keyguard/core/internal";
import type { RequestHandler } from "express";
import { toGuardRequest } from "./request-bridge.js";

/**
 * Serves KeyGuard's Prometheus metrics (`kg.metrics`). Behind the admin key (`X-Admin-Key`)
 * unless `metrics.public` is configured (or `{ public: true }` passed).
 *
 * @example
 * ```ts
 * app.get("/metrics", keyguardMetrics(kg));
 * ```
 */
export function keyguardMetrics(
  kg: KeyGuard,
  options: MetricsEndpointOptions = {},
): RequestHandler {
  const endpoint = new MetricsEndpoint(kg, options);
  return (req, res, next) => {
    endpoint.answer(toGuardRequest(req)).then((answer) => {
      res.status(answer.status).set(answer.headers).send(answer.body);
    }, next);
  };
}
