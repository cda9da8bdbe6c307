import type { BlockOptions, IpBlock, IpRateLimitRule, KeyGuard } from "@keyguard/core";
import { setHeaders, writeProblem } from "@keyguard/core/internal";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { toGuardRequest } from "./request-bridge.js";

/**
 * keyguard-python's `rate_limit_by_ip` for routes without keys (login, signup, ...). Counted per
 * client and routed path, so `/login#1` or `http://h/login` share `/login`'s count.
 *
 * @example
 * ```ts
 * app.post("/login", rateLimitByIp(kg, { limit: 3, lockout: 86400 }), login);
 * app.post("/signup", rateLimitByIp(kg, { limit: 2, lockout: "4:00 PM" }), signup);
 * ```
 */
export function rateLimitByIp(kg: KeyGuard, rule: IpRateLimitRule): RequestHandler {
  const limit = kg.ipRateLimit(rule);
  return (req: Request, res: Response, next: NextFunction) => {
    limit.check(toGuardRequest(req)).then((result) => {
      if (!result.allowed) {
        writeProblem(res, result.status, result.headers, result.problem);
        return;
      }
      setHeaders(res, result.headers);
      next();
    }, next);
  };
}

/** Blocks the client of `req` from inside a handler (keyguard-python's `block_request`). */
export function blockRequest(
  kg: KeyGuard,
  req: Request,
  options: BlockOptions = {},
): Promise<IpBlock> {
  return kg.blockRequest(toGuardRequest(req), options);
}
