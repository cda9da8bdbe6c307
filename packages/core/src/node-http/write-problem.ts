import type { ServerResponse } from "node:http";
import { PROBLEM_CONTENT_TYPE, type ProblemDetails } from "../pipeline/problem-details.js";

/**
 * Writes an RFC 9457 refusal straight to a Node response: for adapters whose framework
 * leaves the response to them (Express). Koa and Fastify write through `ctx` / `reply` so
 * their own response handling stays in charge.
 */
export function writeProblem(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  problem: ProblemDetails,
): void {
  const body = JSON.stringify(problem);
  res.statusCode = status;
  setHeaders(res, headers);
  res.setHeader("content-type", PROBLEM_CONTENT_TYPE);
  res.setHeader("content-length", Buffer.byteLength(body));
  res.end(body);
}

/** Sets every header of a guard result on a Node response. */
export function setHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  for (const name in headers) res.setHeader(name, headers[name] as string);
}
