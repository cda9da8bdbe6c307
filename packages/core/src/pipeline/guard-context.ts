import type { ApiKeyInfo } from "../domain/api-key.js";
import type { IpRuleAction } from "../domain/ip-rule.js";
import type { UsageEvent } from "../domain/usage-event.js";
import type { VerifyResult } from "../keys/key-verifier.js";
import type { ShadowRefusal } from "../limits/shadow-refusal.js";
import type { KeyGuardInstruments } from "../metrics/keyguard-instruments.js";
import type { IpBlock } from "../ports/limiter.js";
import type { LineageUsageReads } from "../usage/lineage-usage.js";
import type { Clock } from "../util/clock.js";
import type { Webhooks } from "../webhooks/webhooks.js";
import type { GuardRequest } from "./guard-request.js";

/**
 * Who a request's client is and whether it may be served at all: what every protected
 * entry point (the key pipeline and `rateLimitByIp`) asks before anything else. `KeyGuard`
 * provides it; the pipeline depends on this, not on the facade.
 */
export interface ClientChecks {
  readonly clock: Clock;
  /** The client identity limits and blocks apply to (IP, or IPv6 /64), per `trustProxy`. */
  clientOf(request: GuardRequest): string;
  /** Loads the stored blocks the first time; settled at once afterwards. */
  syncBlocks(): Promise<void>;
  /** Loads the stored IP rules the first time; settled at once afterwards. */
  syncIpRules(): Promise<void>;
  ipRuleFor(request: GuardRequest): IpRuleAction | undefined;
  /** A manual (stored) block on the client, from memory: no I/O. */
  findManualBlock(client: string, path: string, now: number): IpBlock | undefined;
  /** A manual block, or one the limiter holds (automatic blocks, lockouts). */
  findBlock(client: string, path: string, now: number): Promise<IpBlock | undefined>;
  /** Stores an automatic block (failures, lockouts) so a restart does not lift it. */
  blockAutomatically(block: IpBlock): Promise<void>;
  /** Reports a failure through `onBackgroundError`, rate limited per kind. */
  reportError(error: unknown): void;
}

/** The store reads that seed a limiter's counts (quotas, credits) after a restart. */
export type UsageCounts = LineageUsageReads;

/** Everything the key pipeline (`RequestGuard`) uses: nothing else of `KeyGuard`. */
export interface GuardContext extends ClientChecks {
  /** The verdict on a key: answered at once from the cache, promised when the store is asked. */
  verifyKey(rawKey: string | undefined): VerifyResult | Promise<VerifyResult>;
  /** Whether the key's `allowed_ips` (if it has any) contain the request's client. */
  keyAllowsClient(key: ApiKeyInfo, request: GuardRequest): boolean;
  /** Failed attempts from one client before it is blocked (`ipBlockThreshold`). */
  readonly ipBlockThreshold: number;
  readonly instruments: Pick<
    KeyGuardInstruments,
    "decisionAllowed" | "decisionRefused" | "failedOpen"
  >;
  readonly usageCounts: UsageCounts;
  /** The webhook notices a decision may raise (in memory: no I/O on the request path). */
  readonly notices: Pick<Webhooks, "creditsSpent" | "quotaExceeded">;
  /** Queues a usage event for the next batch. Never waits, never throws. */
  recordUsage(event: UsageEvent): void;
  countShadowRefusal(refusal: ShadowRefusal): void;
}
