import type { KeyGuard, MetricsEndpointOptions } from "@keyguard/core";
import { MetricsEndpoint } from "@keyguard/core/internal";
import type { FastifyReply, FastifyRequest } from "fastify";
import { toGuardRequest } from "./request-bridge.js";

/**
 * Serves KeyGuard's Prometheus metrics (`kg.metrics`) as a route handler. Behind the admin
 * key (`X-Admin-Key`) unless `metrics.public` is configured (or `{ public: true }` passed).
 * Give the route `config: { keyguard: false }` when the guard covers every route.
 *
 * @example
 * ```ts
 * app.get("/metrics", { config: { keyguard: false } }, keyguardMetrics(kg));
 * ```
 */
export function keyguardMetrics(
  kg: KeyGuard,
  options: MetricsEndpointOptions = {},
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  const endpoint = new MetricsEndpoint(kg, options);
  return async (request, reply) => {
    const answer = await endpoint.answer(toGuardRequest(request));
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
}
