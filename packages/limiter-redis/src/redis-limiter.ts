import { randomBytes } from "node:crypto";
import type { ChangeFeed, IpBlock, KeyGuardInstruments, Limiter } from "@keyguard/core";
import {
  type CountCell,
  calendarMonth,
  creditPeriod,
  type LimitDecision,
  type LimitPolicy,
  type LimitRequest,
  QuotaSeedLostError,
  type RateLimitAlgorithm,
  releasedOnce,
  type WindowDecision,
} from "@keyguard/core/internal";
import { Cluster, type Redis } from "ioredis";
import { closeConnection } from "./close-connection.js";
import { DecisionBatches, type KeyedLimitRequest } from "./decision-batches.js";
import { LocalCaches } from "./local-caches.js";
import { RedisKeyNames } from "./redis-key-names.js";
import { RELEASE_SLOTS_LUA, RENEW_SLOTS_LUA } from "./scripts/concurrency-slots.js";
import { CREDITS_IDLE_TTL_MS } from "./scripts/credits.js";
import {
  DECIDE_LUA,
  decodeDecideReply,
  decodeHitReply,
  HIT_LUA,
  SEED_QUOTA_LUA,
} from "./scripts/decide.js";
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
  /**
   * How long a concurrency slot lives unless given back or renewed, in ms: what a slot of
   * a process that died (or whose release never reached Redis) costs at most. The process
   * holding a slot renews it every third of its lease while the request runs, so a long
   * request (a stream, an upload) keeps its slot for as long as it lasts. Default 60,000
   * (1 minute); 1,000 to 86,400,000.
   */
  readonly slotLeaseMs?: number;
}

/** Default lease of a concurrency slot (`RedisLimiterOptions.slotLeaseMs`). */
export const DEFAULT_SLOT_LEASE_MS = 60_000;
const MIN_SLOT_LEASE_MS = 1_000;
const MAX_SLOT_LEASE_MS = 86_400_000;

type ScriptCall = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

const NO_POLICIES: readonly LimitPolicy[] = [];
/** ioredis runs these by EVALSHA, and by EVAL once after a restart or SCRIPT FLUSH. */
const SCRIPTS = {
  keyguardDecide: DECIDE_LUA,
  keyguardHit: HIT_LUA,
  keyguardBlock: BLOCK_LUA,
  keyguardSeedQuota: SEED_QUOTA_LUA,
  keyguardReleaseSlots: RELEASE_SLOTS_LUA,
  keyguardRenewSlots: RENEW_SLOTS_LUA,
} as const;

/**
 * The Limiter port on Redis, shared by every process of a deployment. A protected request
 * costs at most one round trip: its IP block check and all of its policies (the key's
 * windows, its organization's, the monthly quota) are decided in one Lua script,
 * atomically and all or nothing, so N requests per window means N across all processes. Requests of one key (same client and path) arriving in the same turn of
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
  /** Blocks, known refusals and seeded quotas: all the process memory it keeps. */
  readonly #local: LocalCaches;
  readonly #batches = new DecisionBatches((request, count) => this.#decideBatch(request, count));
  /** Block look-ups on their way, by client and path (see `#storedBlock`). */
  readonly #blockLookups = new Map<string, Promise<IpBlock | undefined>>();
  /** Counts blocks' changes, so a look-up that raced one neither caches nor is shared. */
  #blockChanges = 0;
  /** Told when Redis may have lost what this process put there (see `onStateLost`). */
  readonly #stateListeners = new Set<() => void>();
  readonly #slotLeaseMs: number;
  /** The renewals of the slots this process holds (stopped at release, or at close). */
  readonly #renewals = new Set<NodeJS.Timeout>();
  /** Names this process's slots apart from every other's (`<tag>:<call>:<j>`). */
  readonly #slotTag = randomBytes(9).toString("base64url");
  #slotCalls = 0;
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
    const lease = options.slotLeaseMs ?? DEFAULT_SLOT_LEASE_MS;
    if (!Number.isSafeInteger(lease) || lease < MIN_SLOT_LEASE_MS || lease > MAX_SLOT_LEASE_MS) {
      throw new Error(
        `slotLeaseMs must be a whole number of ms from ${MIN_SLOT_LEASE_MS} to ${MAX_SLOT_LEASE_MS} (got ${String(lease).slice(0, 40)})`,
      );
    }
    this.#slotLeaseMs = lease;
    this.#local = new LocalCaches(maxLocal);
    // A reconnection may be to a server that restarted empty (or a promoted replica that
    // never had the counts): listeners seed their quotas again before the next decision.
    // Data lost without any visible disconnection (FLUSHALL, eviction), or a request that
    // raced the reconnection, is caught per key by the decide script (`LocalCaches.seeded`).
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
        this.#local.blocks.clear();
        this.#stateLost();
      } else if (change.kind === "ip-blocks") {
        this.#blockChanged();
        if (change.block === undefined) this.#local.blocks.remove(change.client);
        else this.#local.blocks.add(change.block);
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
      keyguardReleaseSlots: instruments.redisScript("release_slots"),
      keyguardRenewSlots: instruments.redisScript("renew_slots"),
    };
  }

  // Not `async`: an allowed request's promise is its batch's, with no wrapper around it.
  decide(request: LimitRequest): Promise<LimitDecision> {
    const { now, key, client, path } = request;
    const known = this.#local.blocks.find(client, path, now);
    if (known !== undefined) return Promise.resolve(blockedDecision(known, now));
    if (key === undefined || request.policies === undefined || request.policies.length === 0) {
      return this.#decideWithoutKey(client, path, now);
    }
    const refused = this.#local.knownRefusal(key.id, request);
    if (refused !== undefined) return Promise.resolve(refused);
    if (this.#cluster) return this.#decideOnCluster(request as KeyedLimitRequest);
    return this.#batches.add(request as KeyedLimitRequest);
  }

  async #decideWithoutKey(client: string, path: string, now: number): Promise<LimitDecision> {
    const block = await this.findBlock(client, path, now);
    if (block !== undefined) return blockedDecision(block, now);
    return {
      allowed: true,
      limit: 0,
      remaining: 0,
      resetAtMs: now,
      retryAfterMs: 0,
      policies: [],
    };
  }

  async #decideOnCluster(request: KeyedLimitRequest): Promise<LimitDecision> {
    // On a cluster the client's blocks live in another slot than the key's counters.
    const block = await this.findBlock(request.client, request.path, request.now);
    if (block !== undefined) return blockedDecision(block, request.now);
    return this.#batches.add(request);
  }

  /** Requests of one key from one client to one path, alike, decided in one script call. */
  async #decideBatch(request: KeyedLimitRequest, count: number): Promise<LimitDecision[]> {
    const { now, key, client, path } = request;
    let policies = request.policies ?? NO_POLICIES;
    const month = calendarMonth(now);
    const quotaId = key.quotaId ?? key.id; // a rotation's successor continues the month
    const keys: string[] = [];
    const args: (string | number)[] = [
      now,
      path,
      count,
      request.cost ?? 1,
      this.#local.seeded(quotaId, month.start) ? 1 : 0,
      policies.length,
    ];
    let slotsAt: number[] | undefined;
    let decoded: LimitPolicy[] | undefined;
    for (let i = 0; i < policies.length; i++) {
      const policy = policies[i] as LimitPolicy;
      if (policy.algorithm === "credits") {
        // The balance period `now` falls in names the counter and gives the limit.
        const period = creditPeriod(policy.credits ?? { granted: policy.limit, epochMs: 0 }, now);
        keys.push(this.names.credits(key, period.start));
        if (this.#local.creditsSeeded(quotaId, period.start)) {
          args[4] = (args[4] as number) + 2;
        }
        args.push(ALGORITHM_NUMBER.credits, period.limit, period.end ?? 0, 1);
        decoded ??= [...policies];
        decoded[i] = { ...policy, limit: period.limit };
        continue;
      }
      keys.push(this.names.policy(key, policy, month.start));
      const monthly = policy.algorithm === "calendar-month";
      const slots = policy.algorithm === "concurrency";
      if (slots) {
        slotsAt ??= [];
        slotsAt.push(i);
      }
      args.push(
        ALGORITHM_NUMBER[policy.algorithm],
        policy.limit,
        monthly ? month.end : slots ? this.#slotLeaseMs : policy.windowMs,
        policy.mode === "enforce" ? 1 : 0,
      );
    }
    const slotBase =
      slotsAt === undefined ? undefined : `${this.#slotTag}:${(this.#slotCalls++).toString(36)}`;
    if (slotBase !== undefined) args.push(slotBase);
    if (decoded !== undefined) policies = decoded;
    if (!this.#cluster) keys.push(this.names.blocks(client));
    const reply = (await this.#scripts.keyguardDecide(keys.length, ...keys, ...args)) as (
      | number
      | string
    )[];
    const outcome = decodeDecideReply(reply, policies, count, client, path);
    if (outcome.kind === "seed-lost") {
      // Only this key is seeded again (by the caller): the others, if they are gone too,
      // are found so one by one. Telling every listener would, under an evicting Redis,
      // have every key seeded again (a database query each) on each eviction.
      throw new QuotaSeedLostError(quotaId);
    }
    if (outcome.kind === "blocked") {
      this.#local.blocks.add(outcome.block);
      return Array(count).fill(blockedDecision(outcome.block, now));
    }
    const last = outcome.decisions[count - 1] as LimitDecision;
    // Later requests need no call while the refusal holds; a concurrency refusal holds
    // only until some request ends, which no one here can know.
    if (!last.allowed && last.refusal !== "concurrency_limited") {
      this.#local.rememberRefusal(key.id, request, last);
    }
    if (slotsAt === undefined || slotBase === undefined) return outcome.decisions;
    return this.#withSlots(outcome.decisions, keys, slotsAt, slotBase, now);
  }

  /**
   * Each allowed request's slot: `<base>:<j>` in the sets of the caps it took one of (all
   * of them, but a shadow cap that would have refused it, which took none), renewed while
   * it is held.
   */
  #withSlots(
    decisions: LimitDecision[],
    keys: readonly string[],
    slotsAt: readonly number[],
    base: string,
    now: number,
  ): LimitDecision[] {
    for (let j = 0; j < decisions.length; j++) {
      const decision = decisions[j] as LimitDecision;
      if (!decision.allowed) break; // the allowed come first
      const held = slotsAt
        .filter((i) => decision.shadowRefused?.includes(i) !== true)
        .map((i) => keys[i] as string);
      if (held.length === 0) continue;
      const member = `${base}:${j + 1}`;
      const renewal = this.#renewSlot(held, member, now);
      const slot = releasedOnce(async () => {
        clearInterval(renewal);
        this.#renewals.delete(renewal);
        await this.#scripts.keyguardReleaseSlots(held.length, ...held, member);
      });
      decisions[j] = { ...decision, slot };
    }
    return decisions;
  }

  /**
   * Extends a held slot's lease every third of it, counting time from the decision's
   * `now` on this process's monotonic clock (the scores are in the callers' clock). A
   * renewal that fails (Redis away) is not retried early: the next one, or the lease's
   * end, settles it, as for a process that died.
   */
  #renewSlot(held: readonly string[], member: string, now: number): NodeJS.Timeout {
    const startedAt = performance.now();
    const lease = this.#slotLeaseMs;
    const renewal = setInterval(
      () => {
        const at = Math.round(now + performance.now() - startedAt);
        this.#scripts.keyguardRenewSlots(held.length, ...held, member, at, lease).catch(() => {});
      },
      Math.floor(lease / 3),
    );
    renewal.unref();
    this.#renewals.add(renewal);
    return renewal;
  }

  async hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
    cost = 1,
  ): Promise<WindowDecision> {
    const reply = (await this.#scripts.keyguardHit(
      1,
      this.names.bucket(bucket),
      now,
      ALGORITHM_NUMBER[algorithm],
      limit,
      windowMs,
      cost,
    )) as number[];
    return decodeHitReply(reply, limit);
  }

  /**
   * Raises a quota's count for a month to what the store recorded, if Redis knows fewer
   * (Redis restarted without persistence, say). One command per quota per month per process.
   */
  async seedQuota(
    quotaId: string,
    monthStartMs: number,
    used: number,
    orgId?: string,
  ): Promise<void> {
    const { end } = calendarMonth(monthStartMs);
    await this.#scripts.keyguardSeedQuota(
      1,
      // Named as the decide script names it: under the organization's hash tag.
      this.names.quota({ id: quotaId, quotaId, orgId }, monthStartMs),
      used,
      end + 86_400_000 - monthStartMs,
    );
    this.#local.markSeeded(quotaId, monthStartMs);
  }

  /**
   * Raises a lineage's credits spent in a balance period to what the store recorded, if
   * Redis knows less (the quota's seed script, on the credits' counter).
   */
  async seedCredits(
    quotaId: string,
    periodStartMs: number,
    spent: number,
    orgId?: string,
  ): Promise<void> {
    await this.#scripts.keyguardSeedQuota(
      1,
      this.names.credits({ id: quotaId, quotaId, orgId }, periodStartMs),
      spent,
      CREDITS_IDLE_TTL_MS,
    );
    this.#local.markCreditsSeeded(quotaId, periodStartMs);
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
    // A key refused until the month's end may have been refused by a count that is gone
    // (and a rate refusal by a window that is): asked anew, after seeding again.
    this.#local.stateLost();
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
    this.#local.blocks.add(block);
    await this.#notify({ kind: "ip-blocks", client: block.client, block });
  }

  async unblock(client: string): Promise<boolean> {
    const removed = await this.#redis.del(this.names.blocks(client));
    this.#blockChanged();
    this.#local.blocks.remove(client);
    await this.#notify({ kind: "ip-blocks", client });
    return removed > 0;
  }

  async findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined> {
    const known = this.#local.blocks.find(client, path, now);
    if (known !== undefined) return known;
    const changes = this.#blockChanges;
    const stored = await this.#storedBlock(client, path);
    if (stored === undefined || stored.untilMs <= now) return undefined;
    // A block read before an unblock (or resync) must not come back into the local cache.
    if (changes === this.#blockChanges) this.#local.blocks.add(stored);
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
    for (const renewal of this.#renewals) clearInterval(renewal);
    this.#renewals.clear();
    this.#unsubscribe?.();
    this.#redis.off("ready", this.#onReady);
    this.#stateListeners.clear();
    this.#local.clear();
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

function blockedDecision(block: IpBlock, now: number): LimitDecision {
  return {
    allowed: false,
    refusal: "ip_blocked",
    limit: 0,
    remaining: 0,
    resetAtMs: block.untilMs,
    retryAfterMs: block.untilMs - now,
    policies: [],
    block,
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
