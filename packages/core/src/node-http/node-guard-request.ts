import type { IncomingMessage } from "node:http";
import type { GuardRequest } from "../pipeline/guard-request.js";

/**
 * What KeyGuard's core needs from a Node request, for every adapter (Express and Koa hand
 * over their `IncomingMessage`, Fastify its `request.raw`). `path` is the one thing the
 * adapter decides: the path its framework routes (the parsed pathname, or the matched route),
 * never the raw request target, which is attacker text (`http://h/api/data`, `/api/data#x`).
 *
 * @example
 * ```ts
 * guard.check(nodeGuardRequest(req, parseurl.original(req).pathname));
 * ```
 */
export function nodeGuardRequest(req: IncomingMessage, path: string): GuardRequest {
  const headers = req.headers;
  return {
    method: req.method ?? "GET",
    path,
    remoteAddress: req.socket.remoteAddress,
    header: (name) => headers[name],
  };
}
