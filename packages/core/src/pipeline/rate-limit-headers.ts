import type { WindowDecision } from "../limits/window-decision.js";

/**
 * Which rate-limit headers responses carry:
 * - `"legacy"`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch s)
 * - `"draft-8"`: the IETF `RateLimit-Policy` and `RateLimit` fields
 *   (draft-ietf-httpapi-ratelimit-headers-08)
 * - `"both"` (default), or `false` for none.
 */
export type RateLimitHeaderStyle = "legacy" | "draft-8" | "both" | false;

/** Headers describing a key's per-minute limit (and monthly quota, when it has one). */
export function rateLimitHeaders(
  rate: WindowDecision,
  quota: WindowDecision | undefined,
  now: number,
  style: RateLimitHeaderStyle,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (style === false) return headers;
  const resetSeconds = Math.max(0, Math.ceil((rate.resetAtMs - now) / 1000));
  if (style === "legacy" || style === "both") {
    headers["x-ratelimit-limit"] = String(rate.limit);
    headers["x-ratelimit-remaining"] = String(rate.remaining);
    headers["x-ratelimit-reset"] = String(Math.ceil(rate.resetAtMs / 1000));
  }
  if (style === "draft-8" || style === "both") {
    // Built as single template strings: this runs on every request.
    const minutePolicy = `"minute";q=${rate.limit};w=60`;
    const minuteState = `"minute";r=${rate.remaining};t=${resetSeconds}`;
    if (quota === undefined) {
      headers["ratelimit-policy"] = minutePolicy;
      headers.ratelimit = minuteState;
    } else {
      const quotaReset = Math.max(0, Math.ceil((quota.resetAtMs - now) / 1000));
      headers["ratelimit-policy"] = `${minutePolicy}, "month";q=${quota.limit};w=2592000`;
      headers.ratelimit = `${minuteState}, "month";r=${quota.remaining};t=${quotaReset}`;
    }
  }
  return headers;
}
