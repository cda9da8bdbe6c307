import { type ErrorCode, httpStatusFor } from "../errors/error-codes.js";
import { isKeyGuardError } from "../errors/keyguard-error.js";
import { PROBLEM_CONTENT_TYPE, type ProblemDetails, problemFor } from "./problem-details.js";

/** How an error thrown while serving a request is answered. */
export interface ErrorProblem {
  readonly status: number;
  /** `content-type` (problem+json) and, when the error carried them, `allow` / `retry-after`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly problem: ProblemDetails;
  /**
   * True for a 5xx: nothing the client sent explains it (a bug, a database that is down).
   * Report it to the operator; the client is told nothing about it.
   */
  readonly unexpected: boolean;
}

/** The code for a client error status; any other 4xx is answered as `bad_request`. */
const CLIENT_ERROR_CODES: Readonly<Record<number, ErrorCode>> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  409: "conflict",
  410: "gone",
  411: "length_required",
  412: "precondition_failed",
  413: "payload_too_large",
  414: "uri_too_long",
  415: "unsupported_media_type",
  416: "range_not_satisfiable",
  422: "unprocessable_content",
  429: "rate_limited",
  431: "headers_too_large",
};

/** What a client is told, per code: never the error's own message, which may be internal. */
const GENERIC_DETAILS: Partial<Record<ErrorCode, string>> = {
  bad_request: "The request could not be read (for example, a malformed body or URL).",
  unauthorized: "This request needs authentication.",
  forbidden: "This request is not allowed.",
  not_found: "Nothing was found at this path.",
  method_not_allowed: "This method is not allowed on this path.",
  not_acceptable: "No representation of this resource matches the Accept header.",
  request_timeout: "The request was not received in time.",
  conflict: "The request conflicts with the current state of the resource.",
  gone: "This resource is no longer available.",
  length_required: "Send the body's length (Content-Length).",
  precondition_failed: "A precondition in the request headers does not hold.",
  payload_too_large: "The request body is larger than this server accepts.",
  uri_too_long: "The request URL is longer than this server accepts.",
  unsupported_media_type: "This endpoint does not accept the body's media type.",
  range_not_satisfiable: "The requested range cannot be served.",
  unprocessable_content: "The request body is well-formed but cannot be processed.",
  rate_limited: "Too many requests. Retry later.",
  headers_too_large: "The request headers are larger than this server accepts.",
  service_unavailable: "The service is unavailable right now. Retry shortly.",
  database_unavailable: "The service is unavailable right now. Retry shortly.",
  internal_error: "The server could not answer this request. The error has been logged.",
};

/**
 * Headers a failed handler may already have set that would misdescribe the problem body
 * (as Express's finalhandler does, they are removed before the problem is written).
 */
export const HEADERS_DROPPED_ON_ERROR: readonly string[] = [
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-range",
];

/** Headers an error may carry (http-errors' `headers`, KeyGuardError `details`) that are safe to send. */
const PASSED_HEADERS = ["allow", "retry-after", "www-authenticate"] as const;

interface ErrorShape {
  readonly status?: unknown;
  readonly statusCode?: unknown;
  readonly headers?: unknown;
  readonly details?: unknown;
}

/**
 * The problem+json answer for anything a framework or a handler threw: what the adapters'
 * `problemErrorHandler` writes. Never a stack, a file path or an internal message:
 *
 * - a `KeyGuardError` keeps its code; below 500 its message (written for the caller) is
 *   the detail, from 500 up a generic one (a driver's message can name hosts and files);
 * - an error with a 4xx `status` / `statusCode` (http-errors, body-parser, Koa's
 *   `ctx.throw`, Fastify's `FST_ERR_*`) keeps its status (400 bad JSON, 413, 415, ...)
 *   with a generic detail;
 * - a 503 stays `service_unavailable`; everything else is 500 `internal_error`.
 *
 * @example
 * ```ts
 * const answer = problemForError(error);
 * if (answer.unexpected) console.error(error);
 * res.writeHead(answer.status, answer.headers).end(JSON.stringify(answer.problem));
 * ```
 */
export function problemForError(error: unknown): ErrorProblem {
  const code = codeFor(error);
  const status = httpStatusFor(code);
  let detail = GENERIC_DETAILS[code] ?? GENERIC_DETAILS.internal_error ?? "";
  if (status < 500 && isKeyGuardError(error)) detail = error.message;
  const headers: Record<string, string> = { "content-type": PROBLEM_CONTENT_TYPE };
  if (status < 500 || status === 503) {
    const shape = error as ErrorShape | undefined;
    copySafeHeaders(shape?.headers, headers);
    copySafeHeaders(isKeyGuardError(error) ? error.details : undefined, headers);
  }
  if (status === 503 && headers["retry-after"] === undefined) headers["retry-after"] = "5";
  return { status, headers, problem: problemFor(code, detail), unexpected: status >= 500 };
}

function codeFor(error: unknown): ErrorCode {
  if (isKeyGuardError(error)) {
    const status = httpStatusFor(error.code);
    return status < 500 || status === 503 ? error.code : "internal_error";
  }
  if (typeof error !== "object" || error === null) return "internal_error";
  const { status, statusCode } = error as ErrorShape;
  const value = typeof status === "number" ? status : statusCode;
  if (typeof value !== "number" || !Number.isInteger(value)) return "internal_error";
  if (value >= 400 && value < 500) return CLIENT_ERROR_CODES[value] ?? "bad_request";
  return value === 503 ? "service_unavailable" : "internal_error";
}

function copySafeHeaders(from: unknown, to: Record<string, string>): void {
  if (typeof from !== "object" || from === null) return;
  for (const [key, value] of Object.entries(from)) {
    // Header names in any case; KeyGuardError details spell them in camel case (`retryAfter`).
    const name = key.includes("-")
      ? key.toLowerCase()
      : key.replace(/(?<=[a-z])[A-Z]/g, (c) => `-${c}`).toLowerCase();
    if (!(PASSED_HEADERS as readonly string[]).includes(name)) continue;
    // Only header-safe text of a sane length: no CR/LF can reach the response.
    if (typeof value === "string" && /^[\t\x20-\x7e]{1,200}$/.test(value)) to[name] = value;
  }
}

/**
 * Calls an app's reporter for an unexpected error. A reporter that throws must not turn the
 * answer back into the framework's default page: both errors then go to `console.error`.
 */
export function reportUnexpectedError<Context>(
  report: (error: unknown, context: Context) => void,
  error: unknown,
  context: Context,
): void {
  try {
    report(error, context);
  } catch (reporterError) {
    console.error(error);
    console.error(reporterError);
  }
}
