import type { IpBlock, Limiter } from "../ports/limiter.js";

/** When failed authentications get a client blocked. */
export interface AuthFailurePolicy {
  /** Failures allowed within `windowMs`; the one that reaches it blocks the client. */
  readonly threshold: number;
  readonly windowMs: number;
  /** How long the block lasts. */
  readonly blockMs: number;
}

/** keyguard-python's policy: failures counted over an hour, a 24-hour block. */
export const DEFAULT_FAILURE_WINDOW_MS = 3_600_000;
export const DEFAULT_FAILURE_BLOCK_MS = 24 * 3_600_000;

/**
 * Whether a refused request counts toward a block: only when a wrong key was sent (a bad
 * API key, a wrong admin key), never for a request without one. Any web page can make its
 * visitors' browsers send keyless requests (a hundred `<img>` tags), and everyone behind
 * the same NAT or IPv6 /64 shares a count, so counting those would let a page get them all
 * blocked. `OPTIONS` requests (CORS preflights, which never carry credentials) never count.
 */
export function countsAsFailure(method: string, wrongKey: boolean): boolean {
  return wrongKey && method !== "OPTIONS";
}

/**
 * Counts one failed authentication (a bad API key, a wrong admin key) against `client`;
 * at the threshold the client is blocked everywhere KeyGuard protects. Returns whether
 * this failure blocked it. Shared by the request pipeline and the admin API, so a client
 * guessing at either is stopped by the same count.
 *
 * `record` puts the block in place: `kg.blockAutomatically`, which also stores it, so a
 * restart does not lift it. Without one, it is only the limiter's (gone with a memory
 * limiter's process).
 */
export async function countAuthFailure(
  limiter: Limiter,
  client: string,
  now: number,
  policy: AuthFailurePolicy,
  record: (block: IpBlock) => Promise<void> = (block) => limiter.block(block, now),
): Promise<boolean> {
  const bucket = `auth-failures:${client}`;
  const counted = await limiter.hit(
    bucket,
    now,
    policy.threshold,
    policy.windowMs,
    "sliding-window-counter",
  );
  if (counted.allowed && counted.remaining > 0) return false;
  await record({
    client,
    scope: "global",
    untilMs: now + policy.blockMs,
    reason: "auth_failures",
    automatic: true,
  });
  await limiter.reset(bucket);
  return true;
}
