import type { IpRateLimitRule } from "@keyguard/express";

/** Shared by the three servers, so their behaviour is identical. */
export const PROTECTED_PATH = "/api";

/** The admin API (X-Admin-Key: KEYGUARD_ADMIN_KEY, else the secret key) and its docs page. */
export const ADMIN_PREFIX = "/admin";
export const DOCS_PREFIX = "/docs";
export const OPENAPI_URL = `${ADMIN_PREFIX}/openapi.json`;

/** `POST /login`: 5 attempts a minute per client, then a 15-minute lockout on that route. */
export const LOGIN_LIMIT: IpRateLimitRule = { limit: 5, windowMs: 60_000, lockout: "15 minutes" };

/** `POST /api/withdraw` locks the caller out of that route for this long. */
export const WITHDRAW_LOCKOUT = { duration: "1 hour", scope: "path" } as const;

export const WITHDRAW_REFUSAL = { error: "Suspicious activity. Endpoint locked for 1 hour." };

export function port(): number {
  const value = process.env.PORT ?? "8000";
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new Error(`PORT must be a port number (got "${value}")`);
  }
  return Number(value);
}
