import type { LimitPolicy } from "../limits/limit-policy.js";
import type { RateLimitAlgorithm, WindowDecision } from "../limits/window-decision.js";
import type { KeyGuardInstruments } from "../metrics/keyguard-instruments.js";

/** Why a limiter refused a request. */
export type LimitRefusal =
  | "ip_blocked"
  | "rate_limited"
  | "quota_exceeded"
  | "credits_exhausted"
  | "concurrency_limited";

/**
 * The places an allowed request holds in its concurrency policies (`LimitDecision.slot`),
 * until `release` gives them back: when its response is over or its connection closed.
 * Releasing twice gives back nothing more (a slot is released exactly once), and a slot
 * whose release failed (Redis down) ends with its lease on backends that keep one.
 */
export interface ConcurrencySlot {
  release(): Promise<void>;
}

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

/** Whose counters a request spends (see `LimitPolicy.scope`). */
export interface LimitSubject {
  /** The key's id: its `key`-scoped policies' counters. */
  readonly id: string;
  /**
   * The monthly quota the key spends (`ApiKey.quotaId`: one per rotation lineage, so a
   * successor continues its predecessor's month); the key's own id when left out.
   */
  readonly quotaId?: string;
  /**
   * The key's organization: its `organization`-scoped policies' counters, shared by every
   * key of it. On Redis it also names the hash tag all of the request's counters share.
   */
  readonly orgId?: string;
}

/** What one protected request asks the limiter. */
export interface LimitRequest {
  readonly now: number;
  readonly client: string;
  readonly path: string;
  /** The verified key, when the route needs one; without it only blocks are checked. */
  readonly key?: LimitSubject;
  /**
   * The policies the request is decided against (with a key: see `keyPolicies`). Kept the
   * same object across a key's requests (it is cached with the key), which lets backends
   * recognise alike requests cheaply.
   */
  readonly policies?: readonly LimitPolicy[];
  /**
   * What the request spends of each window and quota. Default 1; 0 checks without
   * spending. Concurrency policies ignore it: one request in flight is one slot.
   */
  readonly cost?: number;
}

/** One policy's figures after a decision (in `LimitDecision.policies`, request order). */
export type PolicyState = WindowDecision;

/**
 * The limiter's answer. All or nothing: allowed only if every enforced policy allows the
 * request's cost, and then each is charged; a refused request charges none.
 *
 * `policies[i]` are the figures of `request.policies[i]`: after this request when it was
 * allowed, as they stand when it was refused (a shadow policy that would have refused
 * shows `allowed: false` on an allowed request). `limit`/`remaining`/`resetAtMs` are those
 * of the policy closest to refusing (the legacy `X-RateLimit-*` headers), and
 * `retryAfterMs` is when the last violated policy allows again.
 */
export interface LimitDecision extends WindowDecision {
  readonly refusal?: LimitRefusal;
  /** Figures per policy, in the request's order (empty without a key). */
  readonly policies: readonly PolicyState[];
  /** Indexes (into the request's policies) of the enforced policies that refused it. */
  readonly violated?: readonly number[];
  /** Indexes of the shadow policies that would have refused this (allowed) request. */
  readonly shadowRefused?: readonly number[];
  readonly block?: IpBlock;
  /**
   * Set on an allowed request whose policies include a concurrency cap (enforced, or
   * shadow with room): the slot it holds, to release once its response is over.
   */
  readonly slot?: ConcurrencySlot;
}

/**
 * Decides, atomically per call, whether a request may proceed: is the client blocked (for
 * this path or everywhere)? does every enforced policy of the key allow its cost, and has
 * every concurrency cap a free slot? Nothing is charged and no slot taken unless all do. Implementations: `@keyguard/limiter-memory` (one process)
 * and, with Redis configured, `@keyguard/limiter-redis`.
 *
 * @example
 * ```ts
 * const decision = await limiter.decide({
 *   now: Date.now(), client: "203.0.113.7", path: "/api/data",
 *   key: { id: key.id, orgId: key.orgId }, policies: keyPolicies(key, "sliding-window-log"),
 * });
 * if (!decision.allowed) respond(429, decision.retryAfterMs);
 * ```
 */
export interface Limiter {
  /**
   * Optional: `true` for a limiter that decides in this process, before each call returns
   * (the memory limiter). KeyGuard then does not time its calls: a call costs about a
   * microsecond, and the metric is for a limiter behind a network (Redis).
   */
  readonly inProcess?: boolean;
  decide(request: LimitRequest): Promise<LimitDecision>;
  /**
   * Optional, for a limiter that decides in this process: the same decision as `decide`,
   * returned rather than promised (and a rejection of `decide` thrown). The request
   * pipeline uses it when present, so a request decided in memory costs no promise.
   */
  decideNow?(request: LimitRequest): LimitDecision;
  /**
   * Counts one event in `bucket` (failed authentications of a client, hits on a
   * `rateLimitByIp` route) against `limit` per `windowMs`; an event of `cost` (default 1)
   * counts as that many, 0 only looks.
   */
  hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
    cost?: number,
  ): Promise<WindowDecision>;
  /**
   * Optional: start quota `quotaId` (a key's `quotaId`) for the month beginning at
   * `monthStartMs` at `used` (what the store recorded for the keys spending it), unless
   * the limiter already counts more: a process that restarted, or a Redis that restarted
   * empty, does not hand out a fresh quota. `orgId` is the keys' organization (the Redis
   * limiter names the count under its hash tag).
   */
  seedQuota?(quotaId: string, monthStartMs: number, used: number, orgId?: string): Promise<void>;
  /**
   * Optional: start the credits of `quotaId` for the balance period beginning at
   * `periodStartMs` (`creditPeriod(...).start`) at `spent` (what the store recorded),
   * unless the limiter already counts more, as `seedQuota` does for the month. Once
   * seeded, a count the limiter lost makes `decide` reject with `QuotaSeedLostError`.
   */
  seedCredits?(
    quotaId: string,
    periodStartMs: number,
    spent: number,
    orgId?: string,
  ): Promise<void>;
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
