import { type ErrorCode, httpStatusFor, titleFor } from "../errors/error-codes.js";
import { withHeader } from "./with-header.js";

/** An RFC 9457 problem: the body of every error response, `application/problem+json`. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode;
  /**
   * On a 429: the names of the policies the request exceeded (the member the IETF
   * RateLimit draft's `quota-exceeded` problem type defines).
   */
  readonly "violated-policies"?: readonly string[];
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The problem for an error code; `detail` says what happened and what to do. */
export function problemFor(code: ErrorCode, detail: string): ProblemDetails {
  return {
    type: `urn:keyguard:problem:${code}`,
    title: titleFor(code),
    status: httpStatusFor(code),
    detail,
    code,
  };
}

/** A refusal ready to write: status, headers (with the problem content type) and body. */
export interface ProblemResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly problem: ProblemDetails;
}

/** The refusal for `code`, with `headers` (e.g. `retry-after`) plus the content type. */
export function problemResponse(
  code: ErrorCode,
  detail: string,
  headers: Readonly<Record<string, string>> = {},
): ProblemResponse {
  const problem = problemFor(code, detail);
  return {
    status: problem.status,
    headers: withHeader(headers, "content-type", PROBLEM_CONTENT_TYPE),
    problem,
  };
}

/** A `Retry-After` value: whole seconds, at least 1. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/** The detail of an `ip_blocked` refusal. */
export function blockedDetail(untilMs: number, now: number): string {
  return `This client is blocked for another ${retryAfterSeconds(untilMs - now)} s.`;
}
