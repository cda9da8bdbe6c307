import { type ErrorCode, httpStatusFor, titleFor } from "../errors/error-codes.js";

/** An RFC 9457 problem: the body of every error response, `application/problem+json`. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode;
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
