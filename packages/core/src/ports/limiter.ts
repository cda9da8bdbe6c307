import type { RateLimitAlgorithm, WindowDecision } from "../limits/window-decision.js";
import type { KeyGuardInstruments } from "../metrics/keyguard-instruments.js";

/** Why a limiter refused a request. */
export type LimitRefusal = "ip_blocked" | "rate_limited" | "quota_exceeded";

/** A block on a client: everywhere KeyGuard protects, or on one path only. */
export interface IpBlock {
  /** The client as the pipeline identifies it (an IP, or an IPv6 /64 prefix). */
  readonly client: string;
  readonly scope: "global" | "path";
  /** The path a `"path"` block applies to. */
  readonly path?: string;
  /** When the block ends (epoch ms). */
  readonly untilMs: number;
  /** Why: `"auth_failures"`, `"lockout"`, `"manual"`, or the caller's own words. */
  readonly reason: string;
  /**
   * True for a block KeyGuard made by itself (failed authentications past the threshold,
   * a `rateLimitByIp` lockout); absent for one made by hand (`blockIp`, `blockRequest`).
   */
  readonly automatic?: boolean;
}

/** What one protected request asks the limiter. */
export interface LimitRequest {
  readonly now: number;
  readonly client: string;
  readonly path: string;
  /** The verified key, when the route needs one. */
  readonly key?: {
    readonly id: string;
    /**
     * The monthly quota the key spends (`ApiKey.quotaId`: one per rotation lineage, so a
     * successor continues its predecessor's month); the key's own id when left out. The
     * rate limit stays the key's own.
     */
    readonly quotaId?: string;
    readonly rateLimitPerMinute: number;
    readonly monthlyLimit: number | null;
  };
  readonly algorithm: RateLimitAlgorithm;
}

/**
 * The limiter's answer. `limit`/`remaining`/`resetAtMs` describe the key's rate limit (the
 * headers every authorized response carries); `quota` the monthly quota when the key has
 * one; `block` the block that refused the request.
 */
export interface LimitDecision extends WindowDecision {
  readonly refusal?: LimitRefusal;
  readonly quota?: WindowDecision;
  readonly block?: IpBlock;
}

/**
 * Decides, atomically per call, whether a request may proceed: is the client blocked (for
 * this path or everywhere)? is the key under its per-minute rate? under its monthly quota?
 * A refused request consumes nothing. Implementations: `@keyguard/limiter-memory` (one
 * process) and, with Redis configured, `@keyguard/limiter-redis`.
 *
 * @example
 * ```ts
 * const decision = await limiter.decide({
 *   now: Date.now(), client: "203.0.113.7", path: "/api/data", algorithm: "sliding-window-log",
 *   key: { id: key.id, rateLimitPerMinute: 60, monthlyLimit: null },
 * });
 * if (!decision.allowed) respond(429, decision.retryAfterMs);
 * ```
 */
export interface Limiter {
  decide(request: LimitRequest): Promise<LimitDecision>;
  /**
   * Counts one event in `bucket` (failed authentications of a client, hits on a
   * `rateLimitByIp` route) against `limit` per `windowMs`.
   */
  hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
  ): Promise<WindowDecision>;
  /**
   * Optional: start quota `quotaId` (a key's `quotaId`) for the month beginning at
   * `monthStartMs` at `used` (what the store recorded for the keys spending it), unless
   * the limiter already counts more: a process that restarted, or a Redis that restarted
   * empty, does not hand out a fresh quota.
   */
  seedQuota?(quotaId: string, monthStartMs: number, used: number): Promise<void>;
  /**
   * Optional, for limiters whose state lives elsewhere (Redis): tells `listener` whenever
   * that state may have been lost (a reconnection, which may be to a server that restarted
   * empty). Whoever seeded quotas seeds them again. Besides, once a key's quota was seeded,
   * `decide` rejects with `QuotaSeedLostError` rather than count it from zero if its count
   * is gone. Returns a function that removes the listener.
   */
  onStateLost?(listener: () => void): () => void;
  /** Forgets a bucket's count (after a lockout starts, say). */
  reset(bucket: string): Promise<void>;
  /** Blocks a client until `block.untilMs`; `now` is the caller's time (for expiries). */
  block(block: IpBlock, now: number): Promise<void>;
  /** Lifts every block on a client; true if there was one. */
  unblock(client: string): Promise<boolean>;
  /** The block that applies to `client` on `path` at `now`, if any. */
  findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined>;
  listBlocks(now: number): Promise<IpBlock[]>;
  close(): Promise<void>;
  /**
   * Optional: hands the limiter KeyGuard's instruments once, when KeyGuard is built, so
   * it can count what only it sees (the Redis limiter's script calls). Core times every
   * port call itself; a limiter needs this only for counts of its own.
   */
  useMetrics?(instruments: KeyGuardInstruments): void;
}
