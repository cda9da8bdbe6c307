import type { GuardRequest, ProblemDetails } from "@keyguard/core";
import { nodeGuardRequest, PROBLEM_CONTENT_TYPE, pathOf } from "@keyguard/core/internal";
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * The path a request is limited, blocked and logged under: its matched route's URL
 * (`/api/data`, `/users/:id`), which is what the router decided, whatever the request
 * target looked like (`http://h/api/data`, `/%61pi/data#%zz`). Requests no route matched
 * (404s) fall back to the target's path.
 */
export function routedPath(request: FastifyRequest): string {
  return request.routeOptions.url ?? pathOf(request.url);
}

/** What KeyGuard's core needs from a Fastify request (shared with the admin plugin). */
export function toGuardRequest(request: FastifyRequest): GuardRequest {
  return nodeGuardRequest(request.raw, routedPath(request));
}

/** Writes an RFC 9457 problem response. */
export function sendProblem(
  reply: FastifyReply,
  status: number,
  headers: Readonly<Record<string, string>>,
  problem: ProblemDetails,
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem));
}
