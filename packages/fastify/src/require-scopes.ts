import { missingScopes } from "@keyguard/core/internal";
import type { preHandlerAsyncHookHandler } from "fastify";
import { sendProblem } from "./request-bridge.js";

/** A `preHandler` refusing (403 `insufficient_scope`) a request whose key lacks any of `scopes`. */
export function requireScopes(...scopes: string[]): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const problem = missingScopes(request.apiKey, scopes);
    if (problem !== undefined) return sendProblem(reply, problem.status, {}, problem);
  };
}
