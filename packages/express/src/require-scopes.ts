import { missingScopes, problemFor } from "@keyguard/core";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { sendProblem } from "./request-bridge.js";

/** Refuses (403 `insufficient_scope`) a request whose key lacks any of `scopes`. */
export function requireScopes(...scopes: string[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const problem =
      req.apiKey === undefined
        ? problemFor(
            "missing_api_key",
            "This route needs an API key, but keyguard() did not run before it.",
          )
        : missingScopes(req.apiKey, scopes);
    if (problem === undefined) next();
    else sendProblem(res, problem.status, {}, problem);
  };
}
