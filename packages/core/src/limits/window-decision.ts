/** Which algorithm counts a rate limit. */
export type RateLimitAlgorithm = "sliding-window-log" | "sliding-window-counter" | "gcra";

/** One algorithm's answer for one request against one limit. */
export interface WindowDecision {
  readonly allowed: boolean;
  readonly limit: number;
  /** Requests still allowed right now after this one. */
  readonly remaining: number;
  /** When the limit is fully available again (epoch ms). */
  readonly resetAtMs: number;
  /** How long a refused client should wait (0 when allowed). */
  readonly retryAfterMs: number;
}

/** The algorithm of a guard that names none: keyguard-python's sliding-window log. */
export const DEFAULT_ALGORITHM: RateLimitAlgorithm = "sliding-window-log";
