import {
  type ChangeFeed,
  type CountCell,
  calendarMonth,
  type IpBlock,
  IpBlockList,
  type KeyGuardInstruments,
  type LimitDecision,
  type Limiter,
  type LimitRequest,
  QuotaSeedLostError,
  type RateLimitAlgorithm,
  type WindowDecision,
} from "@keyguard/core";
import { Cluster, type Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { closeConnection } from "./close-connection.js";
import { DecisionBatches, type KeyedLimitRequest } from "./decision-batches.js";
import { RedisKeyNames } from "./redis-key-names.js";
import { DECIDE_LUA, HIT_LUA, OUTCOME, SEED_QUOTA_LUA } from "./scripts/decide.js";
import { BLOCK_LUA, blockField } from "./scripts/ip-blocks.js";
import { ALGORITHM_NUMBER } from "./scripts/window-algorithms.js";

export interface RedisLimiterOptions {
  /** An ioredis client (`new Redis(url)`) or cluster (`new Cluster(nodes)`). */
  readonly redis: Redis | Cluster;
  /** Put in front of every key name; lets apps share a Redis. Default `"keyguard:"`. */
  readonly prefix?: string;
  /**
   * Where block and unblock notices go and come from, so every process's local block cache
   * stays right (see `RedisChangeFeed`). Without one, only this process's own blocks are
   * cached locally; other processes' blocks still apply through Redis.
   */
  readonly changeFeed?: ChangeFeed;
  /** Close `redis` with the limiter (default `false`: the caller owns it). */
  readonly ownsConnection?: boolean;
  /** Most clients and keys whose refusals are remembered locally. Default 100,000. */
  readonly maxLocalEntries?: number;
}

type ScriptCall = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

const MINUTE = 60_000;

interface KnownRefusal {
  readonly decision: LimitDecision;
  readonly untilMs: number;
  readonly rateLimitPerMinute: number;
  readonly monthlyLimit: number | null;
  readonly algorithm: RateLimitAlgorithm;
}
/** ioredis runs these by EVALSHA, and by EVAL once after a restart or SCRIPT FLUSH. */
const SCRIPTS = {
  keyguardDecide: DECIDE_LUA,
  keyguardHit: HIT_LUA,
  keyguardBlock: BLOCK_LUA,
  keyguardSeedQuota: SEED_QUOTA_LUA,
} as const;

/**
 * The Limiter port on Redis, shared by every process of a deployment. A protected request
 * costs at most one round trip: its IP block check, its key's rate limit and its monthly
 * quota are decided in one Lua script, atomically, so N requests per minute means N across
 * all processes. Requests of one key (same client and path) arriving in the same turn of
 * the event loop share one script call ({@link DecisionBatches}). A client known to be blocked, or a key known to be refused until some time,
 * costs no Redis command at all until then.
 *
 * Time comes from the `now` each call passes (the processes' clocks), as with the memory
 * backend, so both pass the same conformance suite.
 */
export class RedisLimiter implements Limiter {
  readonly names: RedisKeyNames;
  readonly #redis: Redis | Cluster;
  readonly #scripts: Record<keyof typeof SCRIPTS, ScriptCall>;
  readonly #cluster: boolean;
  readonly #feed: ChangeFeed | undefined;
  readonly #unsubscribe: (() => void) | undefined;
  readonly #ownsConnection: boolean;
  readonly #blocks: IpBlockList;
  /** Key refusals that hold until a known time (rate limited, quota used up), by key id. */
  readonly #refusals: LRUCache<string, KnownRefusal>;
  readonly #batches = new DecisionBatches((request, count) => this.#decideBatch(request, count));
  /** Block look-ups on their way, by client and path (see `#storedBlock`). */
  readonly #blockLookups = new Map<string, Promise<IpBlock | undefined>>();
  /** Counts blocks' changes, so a look-up that raced one neither caches nor is shared. */
  #blockChanges = 0;
  /**
   * Quotas this process seeded, by quota id, with the month: their count must then be
   * in Redis, and the decide script reports it missing instead of counting from zero.
   */
  readonly #seeded: LRUCache<string, number>;
  /** Told when Redis may have lost what this process put there (see `onStateLost`). */
  readonly #stateListeners = new Set<() => void>();
  /** Whether the connection was ready before: a later `ready` is a reconnection. */
  #wasReady: boolean;
  readonly #onReady = () => {
    if (this.#wasReady) this.#stateLost();
    this.#wasReady = true;
  };

  constructor(options: RedisLimiterOptions) {
    this.#redis = options.redis;
    this.names = new RedisKeyNames(options.prefix ?? "keyguard:");
    this.#cluster = options.redis instanceof Cluster;
    this.#ownsConnection = options.ownsConnection ?? false;
    const maxLocal = options.maxLocalEntries ?? 100_000;
    this.#blocks = new IpBlockList(maxLocal);
    this.#refusals = new LRUCache({ max: maxLocal });
    this.#seeded = new LRUCache({ max: maxLocal });
    // A reconnection may be to a server that restarted empty (or a promoted replica that
    // never had the counts): listeners seed their quotas again before the next decision.
    // Data lost without any visible disconnection (FLUSHALL, eviction), or a request that
    // raced the reconnection, is caught per key by the decide script (see `#seeded`).
    this.#wasReady = this.#redis.status === "ready";
    this.#redis.on("ready", this.#onReady);
    const commands: Partial<Record<keyof typeof SCRIPTS, ScriptCall>> = {};
    for (const [name, lua] of Object.entries(SCRIPTS) as [keyof typeof SCRIPTS, string][]) {
      this.#redis.defineCommand(name, { lua });
      const run = (this.#redis as unknown as Record<string, ScriptCall>)[name] as ScriptCall;
      const call = run.bind(this.#redis);
      // metrics: each script call counted (`useMetrics`); nothing more when none are wired
      commands[name] = (...args: Parameters<ScriptCall>) => {
        this.#scriptCalls?.[name].inc();
        return call(...args);
      };
    }
    this.#scripts = commands as Record<keyof typeof SCRIPTS, ScriptCall>;
    this.#feed = options.changeFeed;
    this.#unsubscribe = this.#feed?.subscribe((change) => {
      if (change.kind === "resync") {
        this.#blockChanged();
        this.#blocks.clear();
        this.#stateLost();
      } else if (change.kind === "ip-blocks") {
        this.#blockChanged();
        if (change.block === undefined) this.#blocks.remove(change.client);
        else this.#blocks.add(change.block);
      }
    });
  }

  /** Counters of script calls, by script, once KeyGuard handed its instruments over. */
  #scriptCalls: Record<keyof typeof SCRIPTS, CountCell> | undefined;

  /** Counts each script call in `keyguard_redis_script_calls_total{script}`. */
  useMetrics(instruments: KeyGuardInstruments): void {
    this.#scriptCalls = {
      keyguardDecide: instruments.redisScript("decide"),
      keyguardHit: instruments.redisScript("hit"),
      keyguardBlock: instruments.redisScript("block"),
      keyguardSeedQuota: instruments.redisScript("seed_quota"),
    };
  }

  // Not `async`: an allowed request's promise is its batch's, with no wrapper around it.
  decide(request: LimitRequest): Promise<LimitDecision> {
    const { now, key, client, path } = request;
    const known = this.#blocks.find(client, path, now);
    if (known !== undefined) {
      return Promise.resolve(blockedDecision(known, now, key?.rateLimitPerMinute ?? 0));
    }
    if (key === undefined) return this.#decideWithoutKey(client, path, now);
    const refused = this.#refusals.get(key.id);
    if (refused !== undefined) {
      // Only while it still holds, and for the same settings: a raised limit is asked anew.
      if (
        refused.untilMs > now &&
        refused.rateLimitPerMinute === key.rateLimitPerMinute &&
        refused.monthlyLimit === key.monthlyLimit &&
        refused.algorithm === request.algorithm
      ) {
        // Not `{ ...decision, retryAfterMs }`: that spread costs V8 about 0.5 µs.
        const retryAfterMs = refused.untilMs - now;
        return Promise.resolve(Object.assign({}, refused.decision, { retryAfterMs }));
      }
      this.#refusals.delete(key.id);
    }
    if (this.#cluster) return this.#decideOnCluster(request as KeyedLimitRequest);
    return this.#batches.add(request as KeyedLimitRequest);
  }

  async #decideWithoutKey(client: string, path: string, now: number): Promise<LimitDecision> {
    const block = await this.findBlock(client, path, now);
    if (block !== undefined) return blockedDecision(block, now, 0);
    return { allowed: true, limit: 0, remaining: 0, resetAtMs: now, retryAfterMs: 0 };
  }

  async #decideOnCluster(request: KeyedLimitRequest): Promise<LimitDecision> {
    // On a cluster the client's blocks live in another slot than the key's counters.
    const block = await this.findBlock(request.client, request.path, request.now);
    if (block !== undefined)
      return blockedDecision(block, request.now, request.key.rateLimitPerMinute);
    return this.#batches.add(request);
  }

  /** Requests of one key from one client to one path, alike, decided in one script call. */
  async #decideBatch(request: KeyedLimitRequest, count: number): Promise<LimitDecision[]> {
    const { now, key, client, path } = request;
    const month = calendarMonth(now);
    const quotaId = key.quotaId ?? key.id; // a rotation's successor continues the month
    const keys = [this.names.rate(key.id, quotaId), this.names.quota(quotaId, month.start)];
    if (!this.#cluster) keys.push(this.names.blocks(client));
    const reply = (await this.#scripts.keyguardDecide(
      keys.length,
      ...keys,
      now,
      path,
      ALGORITHM_NUMBER[request.algorithm],
      key.rateLimitPerMinute,
      MINUTE,
      key.monthlyLimit ?? -1,
      month.end,
      count,
      this.#seeded.get(quotaId) === month.start ? 1 : 0,
    )) as (number | string)[];
    const limit = key.rateLimitPerMinute;
    if (Number(reply[0]) === OUTCOME.quotaSeedLost) {
      // Only this key is seeded again (by the caller): the others, if they are gone too,
      // are found so one by one. Telling every listener would, under an evicting Redis,
      // have every key seeded again (a database query each) on each eviction.
      throw new QuotaSeedLostError(quotaId);
    }
    if (Number(reply[0]) === OUTCOME.ipBlocked) {
      const block: IpBlock = {
        client,
        scope: reply[3] === "path" ? "path" : "global",
        ...(reply[3] === "path" ? { path } : {}),
        untilMs: Number(reply[1]),
        reason: String(reply[2]),
      };
      this.#blocks.add(block);
      return Array(count).fill(blockedDecision(block, now, limit));
    }
    const [refusal, allowed, remaining, resetAtMs, retryAfterMs, quotaLeft] = reply
      .slice(0, 6)
      .map(Number) as [number, number, number, number, number, number];
    const decisions: LimitDecision[] = [];
    const { monthlyLimit } = key;
    // Literals, one shape (`quota` undefined without one), not `{ ...rate, quota }`: on V8
    // a spread copy that gains a field costs ~0.5 µs, and this loop runs for every request.
    for (let i = 0; i < allowed; i++) {
      decisions.push({
        allowed: true,
        limit,
        remaining: Number(reply[6 + 2 * i]),
        resetAtMs: Number(reply[7 + 2 * i]),
        retryAfterMs: 0,
        quota:
          monthlyLimit === null
            ? undefined
            : quotaWindow(monthlyLimit, quotaLeft + (allowed - 1 - i), month.end, now, true),
      });
    }
    if (allowed === count) return decisions;
    const quotaExceeded = refusal === OUTCOME.quotaExceeded;
    const refused: LimitDecision = {
      allowed: false,
      limit,
      remaining,
      resetAtMs,
      retryAfterMs,
      refusal: quotaExceeded ? "quota_exceeded" : "rate_limited",
      // A rate-limit refusal reports the quota too (consuming nothing): every RateLimit field.
      quota:
        monthlyLimit === null
          ? undefined
          : quotaWindow(monthlyLimit, quotaLeft, month.end, now, quotaLeft > 0),
    };
    this.#remember(request, refused, quotaExceeded ? month.end : now + retryAfterMs);
    while (decisions.length < count) decisions.push(refused);
    return decisions;
  }

  /** The key is refused until `untilMs` (with these settings): later requests need no call. */
  #remember(request: KeyedLimitRequest, decision: LimitDecision, untilMs: number): void {
    this.#refusals.set(request.key.id, {
      decision,
      untilMs,
      rateLimitPerMinute: request.key.rateLimitPerMinute,
      monthlyLimit: request.key.monthlyLimit,
      algorithm: request.algorithm,
    });
  }

  async hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
  ): Promise<WindowDecision> {
    const reply = (await this.#scripts.keyguardHit(
      1,
      this.names.bucket(bucket),
      now,
      ALGORITHM_NUMBER[algorithm],
      limit,
      windowMs,
    )) as number[];
    const [allowed, remaining, resetAtMs, retryAfterMs] = reply.map(Number) as number[];
    return {
      allowed: allowed === 1,
      limit,
      remaining: remaining as number,
      resetAtMs: resetAtMs as number,
      retryAfterMs: retryAfterMs as number,
    };
  }

  /**
   * Raises a quota's count for a month to what the store recorded, if Redis knows fewer
   * (Redis restarted without persistence, say). One command per quota per month per process.
   */
  async seedQuota(quotaId: string, monthStartMs: number, used: number): Promise<void> {
    const { end } = calendarMonth(monthStartMs);
    await this.#scripts.keyguardSeedQuota(
      1,
      this.names.quota(quotaId, monthStartMs),
      used,
      end + 86_400_000 - monthStartMs,
    );
    this.#seeded.set(quotaId, monthStartMs);
  }

  /**
   * `listener` is told whenever Redis may have lost this process's state: on reconnecting
   * (the server may have restarted empty) and on the change feed's `resync`. A count lost
   * with no disconnection (FLUSHALL, eviction) is reported per key instead, by `decide`
   * rejecting with `QuotaSeedLostError`.
   */
  onStateLost(listener: () => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  #stateLost(): void {
    // `#seeded` stays: a count seeded this month must still be in Redis, and one that is
    // not is caught by the script, even for a request already past its seed check when
    // this ran (clearing it would let such a request count from zero).
    // A key refused until the month's end may have been refused by a count that is gone
    // (and a rate refusal by a window that is): asked anew, after seeding again.
    this.#refusals.clear();
    for (const listener of this.#stateListeners) listener();
  }

  async reset(bucket: string): Promise<void> {
    await this.#redis.del(this.names.bucket(bucket));
  }

  async block(block: IpBlock, now: number): Promise<void> {
    await this.#scripts.keyguardBlock(
      1,
      this.names.blocks(block.client),
      blockField(block.scope, block.path),
      block.untilMs,
      block.reason,
      now,
    );
    this.#blockChanged();
    this.#blocks.add(block);
    await this.#notify({ kind: "ip-blocks", client: block.client, block });
  }

  async unblock(client: string): Promise<boolean> {
    const removed = await this.#redis.del(this.names.blocks(client));
    this.#blockChanged();
    this.#blocks.remove(client);
    await this.#notify({ kind: "ip-blocks", client });
    return removed > 0;
  }

  async findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined> {
    const known = this.#blocks.find(client, path, now);
    if (known !== undefined) return known;
    const changes = this.#blockChanges;
    const stored = await this.#storedBlock(client, path);
    if (stored === undefined || stored.untilMs <= now) return undefined;
    // A block read before an unblock (or resync) must not come back into the local cache.
    if (changes === this.#blockChanges) this.#blocks.add(stored);
    return stored;
  }

  /**
   * The client's longest-lasting stored block on `path` (expired or not). Checks of one
   * client and path made while one is on its way share it: under load, a busy client's
   * requests cost one command per round trip, not one each (on a cluster every keyed
   * request checks its blocks so, since they live in another slot than the key's counters).
   */
  #storedBlock(client: string, path: string): Promise<IpBlock | undefined> {
    const lookup = `${client} ${path}`;
    const shared = this.#blockLookups.get(lookup);
    if (shared !== undefined) return shared;
    const pending: Promise<IpBlock | undefined> = this.#readBlock(client, path).finally(() => {
      // A change may have cleared it, and a newer look-up taken its place.
      if (this.#blockLookups.get(lookup) === pending) this.#blockLookups.delete(lookup);
    });
    this.#blockLookups.set(lookup, pending);
    return pending;
  }

  async #readBlock(client: string, path: string): Promise<IpBlock | undefined> {
    const [global, onPath] = await this.#redis.hmget(
      this.names.blocks(client),
      "global",
      blockField("path", path),
    );
    return [
      parseBlock(client, "global", undefined, global),
      parseBlock(client, "path", path, onPath),
    ]
      .filter((block): block is IpBlock => block !== undefined)
      .sort((a, b) => b.untilMs - a.untilMs)[0];
  }

  async listBlocks(now: number): Promise<IpBlock[]> {
    const nodes = this.#redis instanceof Cluster ? this.#redis.nodes("master") : [this.#redis];
    const blocks: IpBlock[] = [];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, redisKeys] = await node.scan(
          cursor,
          "MATCH",
          this.names.blocksPattern,
          "COUNT",
          500,
        );
        cursor = next;
        for (const redisKey of redisKeys) {
          const client = this.names.clientOfBlocks(redisKey);
          const fields = await node.hgetall(redisKey);
          for (const [field, value] of Object.entries(fields)) {
            const block =
              field === "global"
                ? parseBlock(client, "global", undefined, value)
                : parseBlock(client, "path", field.slice("path:".length), value);
            if (block !== undefined && block.untilMs > now) blocks.push(block);
          }
        }
      } while (cursor !== "0");
    }
    return blocks;
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#redis.off("ready", this.#onReady);
    this.#stateListeners.clear();
    this.#blocks.clear();
    this.#refusals.clear();
    if (this.#ownsConnection) {
      await closeConnection(this.#redis);
    }
  }

  #blockChanged(): void {
    this.#blockChanges++;
    this.#blockLookups.clear();
  }

  /** Tells other processes; a lost notice only delays their local cache, never Redis. */
  async #notify(change: Parameters<ChangeFeed["publish"]>[0]): Promise<void> {
    await this.#feed?.publish(change).catch(() => {});
  }
}

function blockedDecision(block: IpBlock, now: number, limit: number): LimitDecision {
  return {
    allowed: false,
    refusal: "ip_blocked",
    limit,
    remaining: 0,
    resetAtMs: block.untilMs,
    retryAfterMs: block.untilMs - now,
    block,
  };
}

function quotaWindow(
  limit: number,
  remaining: number,
  monthEnd: number,
  now: number,
  allowed: boolean,
): WindowDecision {
  return {
    allowed,
    limit,
    remaining,
    resetAtMs: monthEnd,
    retryAfterMs: allowed ? 0 : monthEnd - now,
  };
}

function parseBlock(
  client: string,
  scope: "global" | "path",
  path: string | undefined,
  value: string | null | undefined,
): IpBlock | undefined {
  if (value === null || value === undefined) return undefined;
  const separator = value.indexOf("|");
  return {
    client,
    scope,
    ...(scope === "path" ? { path } : {}),
    untilMs: Number(value.slice(0, separator)),
    reason: value.slice(separator + 1),
  };
}
