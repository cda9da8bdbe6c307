import { missingScopes, writeProblem } from "@keyguard/core/internal";
import type { NextFunction, Request, RequestHandler, Response } from "express";

/** Refuses (403 `insufficient_scope`) a request whose key lacks any of `scopes`. */
export function requireScopes(...scopes: string[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const problem = missingScopes(req.apiKey, scopes);
    if (problem === undefined) next();
    else writeProblem(res, problem.status, {}, problem);
  };
}
