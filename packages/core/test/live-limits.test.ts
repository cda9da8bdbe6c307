import { describe, expect, it } from "vitest";
import type { ApiKeyInfo } from "../src/domain/api-key.js";
import type { KeyCredits } from "../src/domain/key-credits.js";
import { QuotaSeedLostError } from "../src/errors/quota-seed-lost.js";
import { type CreditSpending, checkCredits, creditPeriod } from "../src/limits/credit-balance.js";
import { chargeGcra, checkGcra, type GcraState } from "../src/limits/gcra.js";
import { keyPolicies, type LimitPolicy } from "../src/limits/limit-policy.js";
import { LiveLimits, type PolicyStatus } from "../src/limits/live-limits.js";
import { checkMonthlyQuota, type MonthlyQuotaState } from "../src/limits/monthly-quota.js";
import { policyDecision } from "../src/limits/policy-decision.js";
import {
  chargeSlidingWindowCounter,
  checkSlidingWindowCounter,
  type SlidingWindowCounterState,
} from "../src/limits/sliding-window-counter.js";
import {
  chargeSlidingWindowLog,
  checkSlidingWindowLog,
  type SlidingWindowLogState,
  slidingWindowLogState,
} from "../src/limits/sliding-window-log.js";
import type { RateLimitAlgorithm, WindowDecision } from "../src/limits/window-decision.js";
import type {
  IpBlock,
  LimitDecision,
  Limiter,
  LimitRequest,
  PolicyState,
} from "../src/ports/limiter.js";
import type { LineageUsageReads } from "../src/usage/lineage-usage.js";
import { InMemoryLimiter } from "./support/in-memory-ports.js";
import { TestClock } from "./support/test-clock.js";

/** The algorithm configured for the windows that name none (`minute`, `burst`). */
const ALGORITHM: RateLimitAlgorithm = "sliding-window-log";
/** Wednesday 10 June 2026, noon UTC: the month runs from 1 June to 1 July. */
const T0 = Date.UTC(2026, 5, 10, 12, 0, 0);
const JULY = new Date(Date.UTC(2026, 6, 1));
/** When the key's credits were granted. */
const CREDITS_EPOCH = new Date(Date.UTC(2026, 5, 5));

type WindowState = SlidingWindowLogState | SlidingWindowCounterState | GcraState;

/**
 * The limiter a user's process has, over core's pure algorithms as the support limiter is,
 * but counting what that one does not: the month and the credits (per rotation lineage),
 * and a read at cost 0 answered as the real limiters answer it (refused when a request of 1
 * would be, the figures as they stand, nothing spent). Records what each decision asked.
 */
class CountingLimiter extends InMemoryLimiter {
  readonly #windows = new Map<string, WindowState>();
  readonly #months = new Map<string, MonthlyQuotaState>();
  readonly #credits = new Map<string, CreditSpending>();
  /** Each decision's policy names and cost, in order. */
  readonly asked: { policies: string[]; cost: number }[] = [];

  override async decide(request: LimitRequest): Promise<LimitDecision> {
    const { now, key, policies = [] } = request;
    const cost = request.cost ?? 1;
    this.asked.push({ policies: policies.map((policy) => policy.name), cost });
    if (key === undefined) throw new Error("a key's limits are read with the key");
    const owner = (policy: LimitPolicy) =>
      policy.scope === "organization"
        ? `org:${key.orgId}:${policy.name}`
        : policy.scope === "quota"
          ? `quota:${key.quotaId ?? key.id}`
          : `key:${key.id}:${policy.name}`;
    const check = (policy: LimitPolicy, asked: number) =>
      this.#check(owner(policy), policy, now, asked);
    // All or nothing: would every enforced policy take the cost (a read: a request of 1)?
    const checked = policies.map((policy) => check(policy, cost === 0 ? 1 : cost));
    const refused = (mode: "enforce" | "shadow") =>
      policies.flatMap((policy, i) => (policy.mode === mode && !checked[i]?.allowed ? [i] : []));
    const violated = refused("enforce");
    if (violated.length > 0) {
      const standing = checked.map((state, i) =>
        state.allowed ? check(policies[i] as LimitPolicy, 0) : state,
      );
      return policyDecision(policies, standing, violated, undefined);
    }
    const shadowRefused = refused("shadow");
    let states: PolicyState[] = checked;
    if (cost === 0) states = policies.map((policy) => check(policy, 0));
    else {
      policies.forEach((policy, i) => {
        if (checked[i]?.allowed) this.#charge(owner(policy), policy, now, cost);
      });
    }
    return policyDecision(
      policies,
      states,
      undefined,
      shadowRefused.length > 0 ? shadowRefused : undefined,
    );
  }

  #check(id: string, policy: LimitPolicy, now: number, cost: number): WindowDecision {
    const { limit, windowMs } = policy;
    switch (policy.algorithm) {
      case "calendar-month":
        return checkMonthlyQuota(this.#month(id), now, limit, cost);
      case "credits":
        return checkCredits(
          this.#spending(id),
          creditPeriod(policy.credits ?? { granted: 0, epochMs: 0 }, now),
          now,
          cost,
        );
      case "concurrency":
        // A cap is decided by taking a slot: a read that asked for one would occupy it.
        throw new Error(`a read asked for the concurrency cap ${policy.name}`);
      case "sliding-window-log":
        return checkSlidingWindowLog(this.#window(id, policy), now, limit, windowMs, cost);
      case "sliding-window-counter":
        return checkSlidingWindowCounter(this.#window(id, policy), now, limit, windowMs, cost);
      case "gcra":
        return checkGcra(this.#window(id, policy), now, limit, windowMs, cost);
    }
  }

  #charge(id: string, policy: LimitPolicy, now: number, cost: number): void {
    if (policy.algorithm === "calendar-month") this.#month(id).used += cost;
    else if (policy.algorithm === "credits") this.#spending(id).spent += cost;
    else if (policy.algorithm === "sliding-window-log") {
      chargeSlidingWindowLog(this.#window(id, policy), now, cost);
    } else if (policy.algorithm === "sliding-window-counter") {
      chargeSlidingWindowCounter(this.#window(id, policy), cost);
    } else chargeGcra(this.#window(id, policy), now, policy.limit, policy.windowMs, cost);
  }

  #month(id: string): MonthlyQuotaState {
    let state = this.#months.get(id);
    if (state === undefined) {
      state = { monthStart: 0, used: 0 };
      this.#months.set(id, state);
    }
    return state;
  }

  #spending(id: string): CreditSpending {
    let state = this.#credits.get(id);
    if (state === undefined) {
      state = { periodStart: Number.NaN, spent: 0 };
      this.#credits.set(id, state);
    }
    return state;
  }

  // Each test's policies keep their algorithm, so a state's type follows from its id.
  #window<State extends WindowState>(id: string, policy: LimitPolicy): State {
    let state = this.#windows.get(id);
    if (state === undefined) {
      state =
        policy.algorithm === "sliding-window-log"
          ? slidingWindowLogState()
          : policy.algorithm === "sliding-window-counter"
            ? { windowStart: 0, current: 0, previous: 0 }
            : { tat: 0 };
      this.#windows.set(id, state);
    }
    return state as State;
  }
}

/**
 * `inner` with a fault: each decision `fault` names an error for is refused with it (a
 * rejected promise, or with `throws` an exception thrown at the call), the others go on.
 */
class FaultyLimiter implements Limiter {
  constructor(
    readonly inner: Limiter,
    readonly fault: (request: LimitRequest) => unknown,
    readonly throws = false,
  ) {}

  decide(request: LimitRequest): Promise<LimitDecision> {
    const error = this.fault(request);
    if (error === undefined) return this.inner.decide(request);
    if (this.throws) throw error;
    return Promise.reject(error);
  }
  hit(...args: Parameters<Limiter["hit"]>) {
    return this.inner.hit(...args);
  }
  reset(bucket: string) {
    return this.inner.reset(bucket);
  }
  block(block: IpBlock, now: number) {
    return this.inner.block(block, now);
  }
  unblock(client: string) {
    return this.inner.unblock(client);
  }
  findBlock(client: string, path: string, now: number) {
    return this.inner.findBlock(client, path, now);
  }
  listBlocks(now: number) {
    return this.inner.listBlocks(now);
  }
  close() {
    return this.inner.close();
  }
}

/** Redis down: what ioredis rejects a command with once its connection is gone. */
const redisDown = () => new Error("Connection is closed.");

/** The month and the credits asked of a limiter that lost their counts (Redis restarted empty). */
const seedLost = (request: LimitRequest) =>
  request.policies?.some(
    (policy) => policy.algorithm === "calendar-month" || policy.algorithm === "credits",
  )
    ? new QuotaSeedLostError(request.key?.quotaId ?? "")
    : undefined;

/** Usage rows as the store recorded them, read as `LineageUsageReads` reads them. */
class RecordedUsage implements LineageUsageReads {
  readonly #rows: {
    keyId: string;
    quotaId: string;
    at: number;
    requests: number;
    credits: number;
  }[] = [];

  /** `requests` charged to the month and `credits` spent by key `keyId` of lineage `quotaId`. */
  record(keyId: string, quotaId: string, at: number, requests: number, credits: number): void {
    this.#rows.push({ keyId, quotaId, at, requests, credits });
  }

  async listQuotaKeyIds(quotaId: string, usedSince: Date): Promise<string[]> {
    const since = usedSince.getTime();
    const rows = this.#rows.filter((row) => row.quotaId === quotaId && row.at >= since);
    return [...new Set(rows.map((row) => row.keyId))];
  }

  async countAllowedRequests(keyId: string, since: Date): Promise<number> {
    return this.#rows
      .filter((row) => row.keyId === keyId && row.at >= since.getTime())
      .reduce((sum, row) => sum + row.requests, 0);
  }

  async creditsSpent(quotaId: string, periodStart: Date): Promise<number> {
    return this.#rows
      .filter((row) => row.quotaId === quotaId && row.at >= periodStart.getTime())
      .reduce((sum, row) => sum + row.credits, 0);
  }
}

/**
 * A rotated key (`key-2`, successor of `key-1`, whose month and credits it continues) with
 * a policy of each kind: windows of each algorithm, one in shadow mode, its organization's,
 * both concurrency caps (the organization's in shadow mode), the month and credits.
 */
function rotatedKey(credits: KeyCredits = { granted: 20, epoch: CREDITS_EPOCH, refill: null }) {
  return {
    id: "key-2",
    orgId: "org-1",
    label: "all policies",
    prefix: "kg_live_abcd",
    isActive: true,
    scopes: [],
    rateLimitPerMinute: 5,
    monthlyLimit: 50,
    limits: [
      { name: "burst", limit: 3, windowSeconds: 10 },
      { name: "trial", limit: 2, windowSeconds: 60, algorithm: "gcra", mode: "shadow" },
    ],
    concurrency: { limit: 2 },
    createdAt: new Date(Date.UTC(2026, 4, 1)),
    expiresAt: null,
    lastUsedAt: null,
    quotaId: "key-1",
    replacedBy: null,
    credits,
    organizationName: "Acme Corp",
    organizationStatus: "active",
    organizationLimits: [
      { name: "day", limit: 100, windowSeconds: 86_400, algorithm: "sliding-window-counter" },
    ],
    organizationConcurrency: { limit: 10, mode: "shadow" },
  } satisfies ApiKeyInfo;
}

/**
 * The lineage's usage the store recorded by noon on 10 June: 10 requests this month (4 of
 * `key-1`, 6 of `key-2`), 7 credits since the grant; besides, last month's and the days
 * before the grant (not counted), and another lineage's (not counted).
 */
function storeWithUsage(): RecordedUsage {
  const usage = new RecordedUsage();
  usage.record("key-1", "key-1", Date.UTC(2026, 4, 31, 23, 0), 3, 3);
  usage.record("key-1", "key-1", Date.UTC(2026, 5, 3, 9, 0), 4, 4);
  usage.record("key-2", "key-1", Date.UTC(2026, 5, 8, 9, 0), 6, 7);
  usage.record("key-9", "key-9", Date.UTC(2026, 5, 9, 9, 0), 20, 20);
  return usage;
}

function setup(limiter: Limiter | undefined, store: LineageUsageReads = new RecordedUsage()) {
  const clock = new TestClock(T0);
  const reported: unknown[] = [];
  const live = new LiveLimits({
    limiter,
    store,
    clock,
    algorithm: ALGORITHM,
    reportError: (error) => reported.push(error),
  });
  return { live, clock, reported };
}

/** `count` requests of the key as the guard decides them (its concurrency caps aside). */
async function spend(limiter: Limiter, key: ApiKeyInfo, now: number, count: number) {
  const policies = keyPolicies(key, ALGORITHM).filter(
    (policy) => policy.algorithm !== "concurrency",
  );
  for (let i = 0; i < count; i++) {
    const decision = await limiter.decide({
      now,
      client: "203.0.113.7",
      path: "/api/data",
      key: { id: key.id, quotaId: key.quotaId, orgId: key.orgId },
      policies,
    });
    expect(decision.allowed).toBe(true);
  }
}

/** What a policy's status says, keyed by its name. */
function byName(policies: readonly PolicyStatus[]): Record<string, PolicyStatus> {
  return Object.fromEntries(policies.map((policy) => [policy.name, policy]));
}

/** The concurrency caps: never counted outside a decision, so never a figure. */
const CAPS = {
  concurrency: {
    name: "concurrency",
    scope: "key",
    mode: "enforce",
    limit: 2,
    windowSeconds: 0,
    remaining: null,
    resetsAt: null,
  },
  "org.concurrency": {
    name: "org.concurrency",
    scope: "organization",
    mode: "shadow",
    limit: 10,
    windowSeconds: 0,
    remaining: null,
    resetsAt: null,
  },
};

/** The month and the credits as the store alone tells them (see `storeWithUsage`). */
const FROM_STORE = {
  month: {
    name: "month",
    scope: "quota",
    mode: "enforce",
    limit: 50,
    windowSeconds: 2_592_000,
    remaining: 40,
    resetsAt: JULY,
  },
  credits: {
    name: "credits",
    scope: "quota",
    mode: "enforce",
    limit: 20,
    windowSeconds: 0,
    remaining: 13,
    resetsAt: null,
  },
};
const STORE_BALANCE = {
  remaining: 13,
  periodCredits: 20,
  periodStart: CREDITS_EPOCH,
  refillsAt: null,
};

/** The key's windows after two requests at `T0`, read a second later. */
const AFTER_TWO = {
  minute: {
    name: "minute",
    scope: "key",
    mode: "enforce",
    limit: 5,
    windowSeconds: 60,
    remaining: 3,
    // The sliding-window log: when its oldest request leaves the window.
    resetsAt: new Date(T0 + 60_000),
  },
  burst: {
    name: "burst",
    scope: "key",
    mode: "enforce",
    limit: 3,
    windowSeconds: 10,
    remaining: 1,
    resetsAt: new Date(T0 + 10_000),
  },
  trial: {
    name: "trial",
    scope: "key",
    mode: "shadow",
    limit: 2,
    windowSeconds: 60,
    // Used up: in shadow mode it refuses nothing, but what is left is still told.
    remaining: 0,
    // GCRA: when its bucket is full again (two requests of 30 s each).
    resetsAt: new Date(T0 + 60_000),
  },
  "org.day": {
    name: "org.day",
    scope: "organization",
    mode: "enforce",
    limit: 100,
    windowSeconds: 86_400,
    remaining: 98,
    // The sliding-window counter: its window's end (UTC midnight).
    resetsAt: new Date(Date.UTC(2026, 5, 11)),
  },
};

/** Without a limiter, or with one that failed: no window has a figure. */
const UNKNOWN_WINDOWS = Object.fromEntries(
  Object.entries(AFTER_TWO).map(([name, status]) => [
    name,
    { ...status, remaining: null, resetsAt: null },
  ]),
);

describe("LiveLimits (fake clock)", () => {
  it("without a limiter (the CLI): windows unknown, the month and credits from the store", async () => {
    const { live, reported } = setup(undefined, storeWithUsage());
    const key = rotatedKey();
    const status = await live.of(key);
    // Every policy, in the order responses list them.
    expect(status.policies).toEqual([
      UNKNOWN_WINDOWS.minute,
      UNKNOWN_WINDOWS.burst,
      UNKNOWN_WINDOWS.trial,
      UNKNOWN_WINDOWS["org.day"],
      CAPS.concurrency,
      CAPS["org.concurrency"],
      FROM_STORE.month,
      FROM_STORE.credits,
    ]);
    expect(status.credits).toEqual(STORE_BALANCE);
    expect(await live.creditBalance(key)).toEqual(STORE_BALANCE);
    expect(reported).toEqual([]);
  });

  it("with a limiter: live windows, the month and credits at least what the limiter counted", async () => {
    // The store has not been written yet (the usage batch is still queued): the limiter's
    // counts are all there is.
    const limiter = new CountingLimiter();
    const { live, clock, reported } = setup(limiter);
    const key = rotatedKey();
    await spend(limiter, key, T0, 2);
    clock.advance(1_000);
    const decided = limiter.asked.length;

    const status = await live.of(key);
    expect(byName(status.policies)).toEqual({
      ...AFTER_TWO,
      ...CAPS,
      month: { ...FROM_STORE.month, remaining: 48 },
      credits: { ...FROM_STORE.credits, remaining: 18 },
    });
    expect(status.credits).toEqual({ ...STORE_BALANCE, remaining: 18 });
    expect(await live.creditBalance(key)).toEqual({ ...STORE_BALANCE, remaining: 18 });

    // One decision of cost 0 each, never over a concurrency cap (it would occupy a slot).
    expect(limiter.asked.slice(decided)).toEqual([
      { policies: ["minute", "burst", "trial", "org.day", "month", "credits"], cost: 0 },
      { policies: ["credits"], cost: 0 },
    ]);
    // Reading spends nothing: the same figures again.
    expect(await live.of(key)).toEqual(status);
    expect(reported).toEqual([]);
  });

  it("with a limiter that saw fewer requests than the store: the month and credits from the store", async () => {
    // An admin-only process (the memory limiter) sees none of the servers' requests.
    const limiter = new CountingLimiter();
    const { live, clock, reported } = setup(limiter, storeWithUsage());
    const key = rotatedKey();
    await spend(limiter, key, T0, 2);
    clock.advance(1_000);
    const status = await live.of(key);
    expect(byName(status.policies)).toEqual({ ...AFTER_TWO, ...CAPS, ...FROM_STORE });
    expect(status.credits).toEqual(STORE_BALANCE);
    expect(await live.creditBalance(key)).toEqual(STORE_BALANCE);
    expect(reported).toEqual([]);
  });

  it("tells a used-up window (the read is refused) with the others' figures, and its return", async () => {
    const limiter = new CountingLimiter();
    const { live, clock } = setup(limiter);
    const key = rotatedKey();
    await spend(limiter, key, T0, 3);
    clock.advance(1_000);
    const exhausted = byName((await live.of(key)).policies);
    expect(exhausted.burst).toMatchObject({ remaining: 0, resetsAt: new Date(T0 + 10_000) });
    expect(exhausted.minute).toMatchObject({ remaining: 2, resetsAt: new Date(T0 + 60_000) });
    // The shadow window refused the third request without counting it.
    expect(exhausted.trial).toMatchObject({ mode: "shadow", remaining: 0 });
    expect(exhausted["org.day"]?.remaining).toBe(97);
    expect(exhausted.month?.remaining).toBe(47);
    expect(exhausted.credits?.remaining).toBe(17);

    clock.set(T0 + 10_001);
    const later = byName((await live.of(key)).policies);
    expect(later.burst).toMatchObject({ remaining: 3, resetsAt: new Date(T0 + 20_001) });
    expect(later.minute).toMatchObject({ remaining: 2, resetsAt: new Date(T0 + 60_000) });
    expect(later.month?.remaining).toBe(47);
  });

  it("starts a new month afresh in the limiter and the store", async () => {
    const limiter = new CountingLimiter();
    const store = storeWithUsage();
    const { live, clock } = setup(limiter, store);
    const key = rotatedKey();
    const lastSeconds = Date.UTC(2026, 5, 30, 23, 59, 30);
    await spend(limiter, key, lastSeconds, 2);
    store.record("key-2", "key-1", lastSeconds, 2, 2);
    clock.set(lastSeconds + 1_000);
    const june = byName((await live.of(key)).policies);
    expect(june.month).toEqual({ ...FROM_STORE.month, remaining: 38 });

    clock.set(lastSeconds + 45_000); // 00:00:15 on 1 July
    const july = byName((await live.of(key)).policies);
    expect(july.month).toEqual({
      ...FROM_STORE.month,
      remaining: 50,
      resetsAt: new Date(Date.UTC(2026, 7, 1)),
    });
    // Credits without a refill are not a month's: still 9 + 2 spent.
    expect(july.credits?.remaining).toBe(11);
    // The minute still holds the requests of 45 seconds ago.
    expect(july.minute?.remaining).toBe(3);
  });

  it("counts refilled credits from the latest refill, with the refill's amount", async () => {
    const store = new RecordedUsage();
    store.record("key-2", "key-1", Date.UTC(2026, 5, 9, 18, 0), 5, 5); // yesterday's balance
    store.record("key-2", "key-1", Date.UTC(2026, 5, 10, 8, 0), 3, 3);
    const key = rotatedKey({
      granted: 20,
      epoch: CREDITS_EPOCH,
      refill: { amount: 10, interval: "daily" },
    });
    const today = {
      remaining: 7,
      periodCredits: 10,
      periodStart: new Date(Date.UTC(2026, 5, 10)),
      refillsAt: new Date(Date.UTC(2026, 5, 11)),
    };
    const credits = {
      ...FROM_STORE.credits,
      limit: 10,
      windowSeconds: 86_400,
      remaining: 7,
      resetsAt: today.refillsAt,
    };

    const fromStore = setup(undefined, store).live;
    expect(await fromStore.creditBalance(key)).toEqual(today);
    expect(byName((await fromStore.of(key)).policies).credits).toEqual(credits);

    // The limiter counted four of today's: more than the store's three.
    const limiter = new CountingLimiter();
    await spend(limiter, key, T0 - 20_000, 2);
    await spend(limiter, key, T0, 2);
    const withLimiter = setup(limiter, store).live;
    expect(await withLimiter.creditBalance(key)).toEqual({ ...today, remaining: 6 });
    expect(byName((await withLimiter.of(key)).policies).credits).toEqual({
      ...credits,
      remaining: 6,
    });
  });

  for (const throws of [false, true]) {
    it(`reports a failing limiter once per read and answers from the store (${throws ? "thrown" : "rejected"})`, async () => {
      const counting = new CountingLimiter();
      const faults: Error[] = [];
      const limiter = new FaultyLimiter(
        counting,
        () => {
          const fault = redisDown();
          faults.push(fault);
          return fault;
        },
        throws,
      );
      const { live, clock, reported } = setup(limiter, storeWithUsage());
      const key = rotatedKey();
      await spend(counting, key, T0, 2);
      clock.advance(1_000);

      const status = await live.of(key);
      expect(byName(status.policies)).toEqual({ ...UNKNOWN_WINDOWS, ...CAPS, ...FROM_STORE });
      expect(status.credits).toEqual(STORE_BALANCE);
      expect(reported).toEqual([faults[0]]);

      expect(await live.creditBalance(key)).toEqual(STORE_BALANCE);
      expect(faults).toHaveLength(2);
      expect(reported).toEqual(faults);
    });
  }

  it("reads the windows alone when the limiter lost the month and credits, reporting nothing", async () => {
    const counting = new CountingLimiter();
    const limiter = new FaultyLimiter(counting, seedLost);
    const { live, clock, reported } = setup(limiter, storeWithUsage());
    const key = rotatedKey();
    await spend(counting, key, T0, 2);
    clock.advance(1_000);
    const decided = counting.asked.length;

    const status = await live.of(key);
    // The limiter's own month (48 left) is gone: until the next request seeds it again,
    // the store's count is what there is.
    expect(byName(status.policies)).toEqual({ ...AFTER_TWO, ...CAPS, ...FROM_STORE });
    expect(status.credits).toEqual(STORE_BALANCE);
    expect(await live.creditBalance(key)).toEqual(STORE_BALANCE);
    // Only the windows reached the limiter; the credits alone leave nothing to read.
    expect(counting.asked.slice(decided)).toEqual([
      { policies: ["minute", "burst", "trial", "org.day"], cost: 0 },
    ]);
    expect(reported).toEqual([]);
  });

  it("reports a fault on the windows read alone, once, and answers from the store", async () => {
    const fault = redisDown();
    const limiter = new FaultyLimiter(
      new CountingLimiter(),
      (request) => seedLost(request) ?? fault,
    );
    const { live, reported } = setup(limiter, storeWithUsage());
    const status = await live.of(rotatedKey());
    expect(byName(status.policies)).toEqual({ ...UNKNOWN_WINDOWS, ...CAPS, ...FROM_STORE });
    expect(reported).toEqual([fault]);
  });
});
