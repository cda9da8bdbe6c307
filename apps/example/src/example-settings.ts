import type { IpRateLimitRule } from "@keyguard/express";

/** Shared by the three servers, so their behaviour is identical. */
export const PROTECTED_PATH = "/api";

/** The admin API (X-Admin-Key: KEYGUARD_ADMIN_KEY, else the secret key) and its docs page. */
export const ADMIN_PREFIX = "/admin";
export const DOCS_PREFIX = "/docs";
export const OPENAPI_URL = `${ADMIN_PREFIX}/openapi.json`;
/** The dashboard: a web console over the admin API (sign-in with the admin key). */
export const DASHBOARD_PREFIX = "/dashboard";

/** `POST /login`: 5 attempts a minute per client, then a 15-minute lockout on that route. */
export const LOGIN_LIMIT: IpRateLimitRule = { limit: 5, windowMs: 60_000, lockout: "15 minutes" };

/**
 * `GET /api/report` spends this much of the key's limits per request (every other `/api`
 * route spends 1): a report reads the database, a plain route does not.
 */
export const REPORT_COST = 5;

/** `POST /api/withdraw` locks the caller out of that route for this long. */
export const WITHDRAW_LOCKOUT = { duration: "1 hour", scope: "path" } as const;

export const WITHDRAW_REFUSAL = { error: "Suspicious activity. Endpoint locked for 1 hour." };

/** The HTTP server's bounds on slow clients; Node's `http.createServer` options. */
export interface ServerTimeouts {
  readonly requestTimeout: number;
  readonly headersTimeout: number;
  readonly connectionsCheckingInterval: number;
}

/**
 * A request (headers and body) must arrive within `REQUEST_TIMEOUT_MS` (default 30 s), its
 * headers within 10 s (or the request timeout if shorter); Node checks every second (a
 * tenth of the request timeout if shorter). A client that stalls mid-request gets 408
 * problem+json (`answerClientError`) and the connection is closed, instead of holding it
 * open: Fastify's own default is no request timeout at all, Node's 5 minutes checked
 * every 30 s. The admin API bounds its body reads on its own as well (15 s).
 */
export function serverTimeouts(): ServerTimeouts {
  const value = process.env.REQUEST_TIMEOUT_MS ?? "30000";
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new Error(`REQUEST_TIMEOUT_MS must be a number of milliseconds (got "${value}")`);
  }
  const requestTimeout = Number(value);
  return {
    requestTimeout,
    headersTimeout: Math.min(10_000, requestTimeout),
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(requestTimeout / 10))),
  };
}

export function port(): number {
  const value = process.env.PORT ?? "8000";
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new Error(`PORT must be a port number (got "${value}")`);
  }
  return Number(value);
}
