import {
  type ApiKeyInfo,
  createPathMatcher,
  type GuardOptions,
  type KeyGuard,
  pathOf,
} from "@keyguard/core";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { sendProblem, toGuardRequest } from "./request-bridge.js";

declare global {
  namespace Express {
    interface Request {
      /** The verified API key (without its hash), set by KeyGuard on protected routes. */
      apiKey?: ApiKeyInfo;
    }
  }
}

export interface KeyGuardExpressOptions extends GuardOptions {
  /**
   * Protect only requests under this path (the seed's `protected_path="/api"`). Omit it
   * to protect everything the middleware is mounted on (`app.use("/api", keyguard(kg))`).
   */
  readonly protectedPath?: string;
}

/**
 * KeyGuard as Express middleware: verifies the key, applies limits and blocks, sets the
 * rate-limit headers, attaches `req.apiKey`, and logs usage when the response finishes.
 *
 * @example
 * ```ts
 * const kg = await createKeyGuard({ secretKey: process.env.KEYGUARD_SECRET_KEY });
 * app.use(keyguard(kg, { protectedPath: "/api" }));
 * app.get("/api/data", (req, res) => res.json({ message: "Authorized!", key: req.apiKey?.label }));
 * ```
 */
export function keyguard(kg: KeyGuard, options: KeyGuardExpressOptions = {}): RequestHandler {
  const guard = kg.guard(options);
  const { protectedPath } = options;
  const underProtectedPath =
    protectedPath === undefined ? undefined : createPathMatcher(protectedPath);
  return (req: Request, res: Response, next: NextFunction) => {
    if (underProtectedPath !== undefined && !underProtectedPath(pathOf(req.originalUrl))) {
      next();
      return;
    }
    guard.check(toGuardRequest(req)).then((result) => {
      if (result.apiKey !== undefined) {
        res.once("finish", () => guard.complete(result, res.statusCode));
      }
      if (!result.allowed) {
        sendProblem(res, result.status, result.headers, result.problem);
        return;
      }
      req.apiKey = result.apiKey;
      res.set(result.headers);
      next();
    }, next);
  };
}
