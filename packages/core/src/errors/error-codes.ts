/**
 * Every error KeyGuard reports has one of these stable codes. The table is the single
 * source of truth for how a code is answered over HTTP: adapters, the admin API and the
 * CLI all read it, so a code never maps to two different statuses.
 */
export const ERROR_CODES = {
  // Configuration and set-up (raised at start-up, never in a request).
  invalid_config: { status: 500, title: "Invalid configuration" },
  driver_missing: { status: 500, title: "Driver not installed" },
  driver_incompatible: { status: 500, title: "Driver incompatible with this Node.js" },
  // The configured secret is not the one the database's keys are hashed with (start-up, or
  // a key created after another process rotated the secret): 503, as nothing the caller
  // sent is wrong and the server cannot serve the request as configured.
  secret_mismatch: { status: 503, title: "Secret key mismatch" },

  // Requests refused before any operation runs (HTTP parser, admin API routing and bodies).
  bad_request: { status: 400, title: "Bad request" },
  headers_too_large: { status: 431, title: "Request headers too large" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  request_timeout: { status: 408, title: "Request timeout" },

  // Other client errors a framework or a handler raises (answered by the adapters'
  // problemErrorHandler); a 4xx status without a code here is answered as bad_request.
  forbidden: { status: 403, title: "Forbidden" },
  not_acceptable: { status: 406, title: "Not acceptable" },
  conflict: { status: 409, title: "Conflict" },
  gone: { status: 410, title: "Gone" },
  length_required: { status: 411, title: "Length required" },
  precondition_failed: { status: 412, title: "Precondition failed" },
  uri_too_long: { status: 414, title: "URI too long" },
  range_not_satisfiable: { status: 416, title: "Range not satisfiable" },
  unprocessable_content: { status: 422, title: "Unprocessable content" },

  // Bad input to an operation (CLI, admin API, programmatic use).
  invalid_input: { status: 400, title: "Invalid input" },
  organization_not_found: { status: 404, title: "Organization not found" },
  organization_exists: { status: 409, title: "Organization already exists" },
  api_key_not_found: { status: 404, title: "API key not found" },
  webhook_not_found: { status: 404, title: "Webhook endpoint not found" },
  ambiguous_key_reference: { status: 409, title: "Ambiguous key reference" },
  // A key's state forbids the operation (decided by the database, so also when two admin
  // calls race): rotating a key that already has a successor. A revoked or expired key
  // that cannot be rotated or changed is the generic `conflict`.
  key_already_rotated: { status: 409, title: "API key already rotated" },

  // Request authentication and authorization.
  missing_api_key: { status: 401, title: "Missing API key" },
  invalid_api_key: { status: 401, title: "Invalid API key" },
  revoked_api_key: { status: 401, title: "Revoked API key" },
  expired_api_key: { status: 401, title: "Expired API key" },
  organization_suspended: { status: 403, title: "Organization suspended" },
  insufficient_scope: { status: 403, title: "Insufficient scope" },
  unauthorized: { status: 401, title: "Unauthorized" },

  // Abuse prevention and limits.
  ip_blocked: { status: 403, title: "IP address blocked" },
  // IP rules: a deny rule covers the client; a key's allowed_ips do not.
  ip_denied: { status: 403, title: "IP address denied" },
  ip_not_allowed: { status: 403, title: "IP address not allowed for this key" },
  rate_limited: { status: 429, title: "Rate limit exceeded" },
  quota_exceeded: { status: 429, title: "Monthly quota exceeded" },
  // Too many of the key's (or its organization's) requests in flight at once.
  concurrency_limited: { status: 429, title: "Too many concurrent requests" },
  credits_exhausted: { status: 429, title: "Credits exhausted" },

  // Infrastructure, and failures that are nobody's input (a bug): never explained to clients.
  internal_error: { status: 500, title: "Internal server error" },
  database_unavailable: { status: 503, title: "Database unavailable" },
  service_unavailable: { status: 503, title: "Service unavailable" },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable, machine-readable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status an error code is answered with. */
export function httpStatusFor(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** The short, human title for an error code (the `title` of a problem+json body). */
export function titleFor(code: ErrorCode): string {
  return ERROR_CODES[code].title;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}
