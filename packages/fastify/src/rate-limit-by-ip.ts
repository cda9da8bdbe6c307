import type { BlockOptions, IpBlock, IpRateLimitRule, KeyGuard } from "@keyguard/core";
import type { FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import { sendProblem, toGuardRequest } from "./request-bridge.js";

/**
 * keyguard-python's `rate_limit_by_ip` as an `onRequest` hook for routes without keys. Counted per
 * client and matched route, so no spelling of the target gets a fresh count.
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

/**
 * Blocks the client of `request` from inside a handler (keyguard-python's `block_request`); with
 * `scope: "path"`, from the matched route (`/users/:id` as a whole).
 */
export function blockRequest(
  kg: KeyGuard,
  request: FastifyRequest,
  options: BlockOptions = {},
): Promise<IpBlock> {
  return kg.blockRequest(toGuardRequest(request), options);
}
