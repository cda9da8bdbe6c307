import type {
  ApiKeyInfo,
  GuardOptions,
  GuardResult,
  KeyGuard,
  RequestCost,
  RequestGuard,
} from "@keyguard/core";
import {
  checkCostOption,
  completeOnClose,
  createPathMatcher,
  nodeGuardRequest,
  problemFor,
  setHeaders,
  writeProblem,
} from "@keyguard/core/internal";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { routedPath } from "./request-bridge.js";

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
   * Protect only requests under this path (keyguard-python's `protected_path="/api"`). Omit it
   * to protect everything the middleware is mounted on (`app.use("/api", keyguard(kg))`).
   */
  readonly protectedPath?: string;
  /**
   * What each request spends of its key's limits: a number or a function of the request
   * (default 1; 0 checks without spending; whole numbers up to 1,000,000,000). A number out
   * of bounds throws here; a function that throws or answers something else gets its
   * request a 503 (reported to `onBackgroundError`). For a costlier route, mount a
   * middleware of its own there, before any app-wide one that would guard it too:
   * `app.get("/api/report", keyguard(kg, { cost: 5 }), handler)`.
   */
  readonly cost?: RequestCost<Request>;
}

/** A target with no path (`http://`) or none a URL parser reads (`http://[::1`): never passed on. */
const UNROUTABLE_TARGET = problemFor("bad_request", "The request target has no path to route.");

/**
 * KeyGuard as Express middleware: verifies the key, applies limits and blocks, sets the
 * rate-limit headers, attaches `req.apiKey`, and logs usage when the response is over.
 * Whether a request is protected is decided on the path Express routes, so no spelling of
 * the request target (absolute form, fragment, escapes, case) reaches a protected handler
 * around it.
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
  const cost = checkCostOption(options.cost, "keyguard(kg, { cost })");
  const underProtectedPath =
    protectedPath === undefined ? undefined : createPathMatcher(protectedPath);
  return (req: Request, res: Response, next: NextFunction) => {
    const path = routedPath(req);
    if (path === undefined) {
      writeProblem(res, 400, {}, UNROUTABLE_TARGET);
      return;
    }
    if (underProtectedPath !== undefined && !underProtectedPath(path)) {
      next();
      return;
    }
    const checked = guard.checkNow(nodeGuardRequest(req, path), cost, req);
    // Decided in memory (a cached key, the memory limiter) it is a result: settled now,
    // with no promise and no closure.
    if (checked instanceof Promise) {
      // Never rejects (failures are 503 results); what `settle` throws goes to Express.
      checked.then((result) => settle(guard, req, res, next, result)).catch(next);
    } else settle(guard, req, res, next, checked);
  };
}

/** Writes a guard result onto the response; lets the request go on if it was allowed. */
function settle(
  guard: RequestGuard,
  req: Request,
  res: Response,
  next: NextFunction,
  result: GuardResult,
): void {
  completeOnClose(res, guard, result);
  if (!result.allowed) {
    writeProblem(res, result.status, result.headers, result.problem);
    return;
  }
  req.apiKey = result.apiKey;
  setHeaders(res, result.headers);
  next();
}
