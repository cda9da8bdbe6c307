import {
  type GuardRequest,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  pathOf,
} from "@keyguard/core";
import type { Request, Response } from "express";

/** What KeyGuard's core needs from an Express request. */
export function toGuardRequest(req: Request): GuardRequest {
  return {
    method: req.method,
    path: pathOf(req.originalUrl),
    remoteAddress: req.socket.remoteAddress,
    header: (name) => req.headers[name],
  };
}

/** Writes an RFC 9457 problem response. */
export function sendProblem(
  res: Response,
  status: number,
  headers: Readonly<Record<string, string>>,
  problem: ProblemDetails,
): void {
  res.status(status).set(headers).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}
