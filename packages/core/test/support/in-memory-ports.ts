import { IpBlockList } from "../../src/blocks/ip-block-list.js";
import type { ApiKey, ApiKeyPatch, StoredApiKey } from "../../src/domain/api-key.js";
import type { StoredIpRule } from "../../src/domain/ip-rule.js";
import type { Organization, OrganizationStatus } from "../../src/domain/organization.js";
import type { StoreCounts } from "../../src/domain/stats.js";
import type { UsageBucket } from "../../src/domain/usage-bucket.js";
import type { UsageEvent } from "../../src/domain/usage-event.js";
import type { KeyGuardEvent } from "../../src/events/keyguard-event.js";
import { chargeGcra, checkGcra, gcra } from "../../src/limits/gcra.js";
import type { LimitPolicy, LimitSpec, PolicyAlgorithm } from "../../src/limits/limit-policy.js";
import { policyDecision } from "../../src/limits/policy-decision.js";
import {
  chargeSlidingWindowCounter,
  checkSlidingWindowCounter,
  slidingWindowCounter,
} from "../../src/limits/sliding-window-counter.js";
import {
  chargeSlidingWindowLog,
  checkSlidingWindowLog,
  type SlidingWindowLogState,
  slidingWindowLog,
  slidingWindowLogState,
} from "../../src/limits/sliding-window-log.js";
import type { RateLimitAlgorithm, WindowDecision } from "../../src/limits/window-decision.js";
import type { AuditEventFilter } from "../../src/ports/audit-log.js";
import type { IpBlock, LimitDecision, Limiter, LimitRequest } from "../../src/ports/limiter.js";
import type {
  ApiKeyRotation,
  IpBlockFilter,
  OrganizationStatusChange,
  RotatedKeys,
  Store,
} from "../../src/ports/store.js";
import type { StoredUsageOverview } from "../../src/usage/usage-overview.js";

/**
 * Ports for core's own tests of the request pipeline, which core must test without
 * importing a database or Redis package. They hold state in maps and reuse core's pure
 * decision code, and do no more than those tests need; the real backends are held to the
 * ports' rules by the store and limiter conformance suites, and the whole pipeline runs on
 * them in the adapter conformance suite.
 */
export class InMemoryStore implements Store {
  readonly dialect = "memory";
  readonly #organizations = new Map<string, Organization>();
  readonly #keys = new Map<string, ApiKey>();
  readonly #blocks: IpBlock[] = [];
  /** Calls per method, to show what reached the store. */
  readonly calls: Record<string, number> = {};

  #count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  async migrate(): Promise<void> {}

  /** Events appended on their own (change methods here do not record theirs). */
  readonly #events: KeyGuardEvent[] = [];

  async listAuditEvents(filter: AuditEventFilter = {}): Promise<KeyGuardEvent[]> {
    const after = filter.afterId;
    return this.#events.filter((event) => after === undefined || event.id > after);
  }

  async appendAuditEvent(event: KeyGuardEvent): Promise<void> {
    this.#events.push(event);
  }

  async deleteAuditEventsBefore(): Promise<number> {
    return 0;
  }

  async insertOrganization(organization: Organization): Promise<void> {
    this.#organizations.set(organization.id, organization);
  }

  async listOrganizations(): Promise<Organization[]> {
    return [...this.#organizations.values()];
  }

  async findOrganizationById(id: string): Promise<Organization | undefined> {
    return this.#organizations.get(id);
  }

  async findOrganizationByName(name: string): Promise<Organization | undefined> {
    return [...this.#organizations.values()].find((o) => o.name === name);
  }

  async updateOrganizationStatus(
    id: string,
    status: OrganizationStatus,
  ): Promise<OrganizationStatusChange | undefined> {
    const organization = this.#organizations.get(id);
    if (organization === undefined) return undefined;
    const updated = { ...organization, status };
    this.#organizations.set(id, updated);
    return { organization: updated, changed: organization.status !== status };
  }

  async updateOrganizationLimits(
    id: string,
    limits: readonly LimitSpec[],
  ): Promise<Organization | undefined> {
    const organization = this.#organizations.get(id);
    if (organization === undefined) return undefined;
    const updated = { ...organization, limits: limits.length === 0 ? undefined : limits };
    this.#organizations.set(id, updated);
    return updated;
  }

  async insertApiKey(key: ApiKey): Promise<void> {
    this.#keys.set(key.id, key);
  }

  async findApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined> {
    this.#count("findApiKeyByHash");
    const key = [...this.#keys.values()].find((k) => k.keyHash === keyHash);
    return key === undefined ? undefined : this.#stored(key);
  }

  async findApiKeyById(id: string): Promise<StoredApiKey | undefined> {
    const key = this.#keys.get(id);
    return key === undefined ? undefined : this.#stored(key);
  }

  async findApiKeysByPrefix(prefix: string, limit: number): Promise<StoredApiKey[]> {
    return [...this.#keys.values()]
      .filter((k) => k.prefix.startsWith(prefix))
      .slice(0, limit)
      .map((k) => this.#stored(k));
  }

  async listApiKeys(): Promise<StoredApiKey[]> {
    return [...this.#keys.values()].map((k) => this.#stored(k));
  }

  // One thread and no await between the check and the write: each change is atomic.
  async updateApiKey(id: string, patch: ApiKeyPatch): Promise<StoredApiKey | undefined> {
    const key = this.#keys.get(id);
    if (key === undefined || !key.isActive || key.replacedBy !== null) return undefined;
    this.#keys.set(id, { ...key, ...patch });
    return this.findApiKeyById(id);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    const key = this.#keys.get(id);
    if (key === undefined || !key.isActive) return false;
    this.#keys.set(id, { ...key, isActive: false });
    return true;
  }

  async rotateApiKey(rotation: ApiKeyRotation): Promise<RotatedKeys | undefined> {
    const key = this.#keys.get(rotation.previousId);
    const now = rotation.now.getTime();
    if (key === undefined || !key.isActive || key.replacedBy !== null) return undefined;
    if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return undefined;
    const { graceEnd } = rotation;
    const expiresAt =
      graceEnd === undefined || (key.expiresAt !== null && key.expiresAt < graceEnd)
        ? key.expiresAt
        : graceEnd;
    this.#keys.set(key.id, {
      ...key,
      replacedBy: rotation.successor.id,
      isActive: graceEnd !== undefined,
      expiresAt,
    });
    this.#keys.set(rotation.successor.id, {
      ...key,
      ...rotation.successor,
      isActive: true,
      lastUsedAt: null,
      replacedBy: null,
    });
    return {
      previous: this.#stored(this.#keys.get(key.id) as ApiKey),
      successor: this.#stored(this.#keys.get(rotation.successor.id) as ApiKey),
    };
  }

  async listQuotaKeyIds(quotaId: string, usedSince: Date): Promise<string[]> {
    return [...this.#keys.values()]
      .filter((k) => k.quotaId === quotaId && k.lastUsedAt !== null && k.lastUsedAt >= usedSince)
      .map((k) => k.id);
  }

  async insertUsageEvents(_events: readonly UsageEvent[]): Promise<void> {}

  async countAllowedRequests(): Promise<number> {
    return 0;
  }

  async usageByHour(): Promise<UsageBucket[]> {
    return [];
  }

  async usageOverview(): Promise<StoredUsageOverview> {
    return { hours: [], topKeys: [] };
  }

  async insertIpBlock(block: IpBlock): Promise<void> {
    this.#blocks.push(block);
  }

  async deleteIpBlocks(client: string): Promise<number> {
    const before = this.#blocks.length;
    this.#blocks.splice(0, before, ...this.#blocks.filter((b) => b.client !== client));
    return before - this.#blocks.length;
  }

  async listIpBlocks(now: Date, filter: IpBlockFilter = {}): Promise<IpBlock[]> {
    return this.#blocks.filter(
      (b) =>
        b.untilMs > now.getTime() &&
        (filter.automatic === undefined || (b.automatic === true) === filter.automatic),
    );
  }

  readonly #ipRules: StoredIpRule[] = [];

  async listIpRules(limit: number): Promise<StoredIpRule[]> {
    return this.#ipRules.slice(0, limit);
  }

  async insertIpRule(rule: StoredIpRule): Promise<{ rule: StoredIpRule; created: boolean }> {
    const existing = this.#ipRules.find((stored) => stored.cidr === rule.cidr);
    if (existing !== undefined) return { rule: existing, created: false };
    this.#ipRules.push(rule);
    return { rule, created: true };
  }

  async deleteIpRule(id: string): Promise<StoredIpRule | undefined> {
    const index = this.#ipRules.findIndex((rule) => rule.id === id);
    return index === -1 ? undefined : this.#ipRules.splice(index, 1)[0];
  }

  async countStats(): Promise<StoreCounts> {
    return {
      organizations: this.#organizations.size,
      totalKeys: this.#keys.size,
      activeKeys: 0,
      totalRequests: 0,
      requestsSince: 0,
      errorRequests: 0,
    };
  }

  async close(): Promise<void> {}

  #stored(key: ApiKey): StoredApiKey {
    const organization = this.#organizations.get(key.orgId);
    return {
      ...key,
      organizationName: organization?.name ?? "",
      organizationStatus: organization?.status ?? "active",
      organizationLimits: organization?.limits,
    };
  }
}

type WindowState =
  | SlidingWindowLogState
  | { windowStart: number; current: number; previous: number }
  | { tat: number };

/** A Limiter in maps over core's pure algorithms (keys' windows; no monthly quota). */
export class InMemoryLimiter implements Limiter {
  readonly #windows = new Map<string, WindowState>();
  readonly #blocks = new IpBlockList();
  readonly #blocked = new Set<string>();
  /** Every `hit` bucket counted, in order. */
  readonly hits: string[] = [];

  /** Set with `answersNow`: the pipeline then takes its synchronous path, as with the memory limiter. */
  readonly decideNow?: (request: LimitRequest) => LimitDecision;

  constructor(options: { answersNow?: boolean } = {}) {
    if (options.answersNow === true) this.decideNow = (request) => this.#decide(request);
  }

  async decide(request: LimitRequest): Promise<LimitDecision> {
    return this.#decide(request);
  }

  /**
   * All or nothing over the request's window policies (the month is not counted here:
   * the real backends' calendar months are in the limiter conformance suite).
   */
  #decide(request: LimitRequest): LimitDecision {
    const { now, key, policies = [] } = request;
    const block = this.#blocks.find(request.client, request.path, now);
    if (block !== undefined) {
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
    if (key === undefined) {
      return {
        allowed: true,
        limit: 0,
        remaining: 0,
        resetAtMs: now,
        retryAfterMs: 0,
        policies: [],
      };
    }
    const cost = request.cost ?? 1;
    const owner = (policy: LimitPolicy) =>
      `${policy.scope === "organization" ? `org:${key.orgId}` : `key:${key.id}`}:${policy.name}`;
    const states = policies.map((policy) =>
      this.#check(owner(policy), now, policy, Math.max(cost, 1)),
    );
    const violated = policies.flatMap((policy, i) =>
      policy.mode === "enforce" && !states[i]?.allowed ? [i] : [],
    );
    if (violated.length === 0 && cost > 0) {
      policies.forEach((policy, i) => {
        if (states[i]?.allowed) this.#charge(owner(policy), now, policy, cost);
      });
    }
    const shadowRefused = policies.flatMap((policy, i) =>
      policy.mode === "shadow" && !states[i]?.allowed ? [i] : [],
    );
    return violated.length > 0
      ? policyDecision(policies, states, violated, undefined)
      : policyDecision(
          policies,
          states,
          undefined,
          shadowRefused.length > 0 ? shadowRefused : undefined,
        );
  }

  #state(id: string, algorithm: PolicyAlgorithm): WindowState {
    let state = this.#windows.get(id);
    if (state === undefined) {
      state =
        algorithm === "sliding-window-log" || algorithm === "calendar-month"
          ? slidingWindowLogState()
          : algorithm === "sliding-window-counter"
            ? { windowStart: 0, current: 0, previous: 0 }
            : { tat: 0 };
      this.#windows.set(id, state);
    }
    return state;
  }

  #check(id: string, now: number, policy: LimitPolicy, cost: number): WindowDecision {
    const { limit } = policy;
    if (policy.algorithm === "calendar-month") {
      return { allowed: true, limit, remaining: limit, resetAtMs: now, retryAfterMs: 0 };
    }
    const state = this.#state(id, policy.algorithm);
    const { windowMs } = policy;
    if ("runs" in state) return checkSlidingWindowLog(state, now, limit, windowMs, cost);
    if ("tat" in state) return checkGcra(state, now, limit, windowMs, cost);
    return checkSlidingWindowCounter(state, now, limit, windowMs, cost);
  }

  #charge(id: string, now: number, policy: LimitPolicy, cost: number): void {
    if (policy.algorithm === "calendar-month") return;
    const state = this.#state(id, policy.algorithm);
    if ("runs" in state) chargeSlidingWindowLog(state, now, cost);
    else if ("tat" in state) chargeGcra(state, now, policy.limit, policy.windowMs, cost);
    else chargeSlidingWindowCounter(state, cost);
  }

  async hit(
    bucket: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
    cost = 1,
  ): Promise<WindowDecision> {
    this.hits.push(bucket);
    return this.#count(`hit:${bucket}`, now, limit, windowMs, algorithm, cost);
  }

  async reset(bucket: string): Promise<void> {
    this.#windows.delete(`hit:${bucket}`);
  }

  async block(block: IpBlock): Promise<void> {
    this.#blocks.add(block);
    this.#blocked.add(block.client);
  }

  async unblock(client: string): Promise<boolean> {
    this.#blocks.remove(client);
    return this.#blocked.delete(client);
  }

  async findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined> {
    return this.#blocks.find(client, path, now);
  }

  async listBlocks(): Promise<IpBlock[]> {
    return [];
  }

  async close(): Promise<void> {}

  #count(
    id: string,
    now: number,
    limit: number,
    windowMs: number,
    algorithm: RateLimitAlgorithm,
    cost = 1,
  ): WindowDecision {
    let state = this.#windows.get(id);
    if (state === undefined) {
      state =
        algorithm === "sliding-window-log"
          ? slidingWindowLogState()
          : algorithm === "sliding-window-counter"
            ? { windowStart: 0, current: 0, previous: 0 }
            : { tat: 0 };
      this.#windows.set(id, state);
    }
    if ("runs" in state) return slidingWindowLog(state, now, limit, windowMs, cost);
    if ("tat" in state) return gcra(state, now, limit, windowMs, cost);
    return slidingWindowCounter(state, now, limit, windowMs, cost);
  }
}
