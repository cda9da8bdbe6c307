import type { LimitPolicy, LimitSubject } from "@keyguard/core/internal";
import { ALGORITHM_NUMBER } from "./scripts/window-algorithms.js";

/**
 * Names of KeyGuard's Redis keys. Everything one decide script touches for a key shares
 * the hash tag of its organization (`{org:<id>}`, see `tag`), so on Redis Cluster it
 * lives in one slot; a client's blocks and each bucket have tags of their own. The prefix
 * lets several apps share one Redis.
 */
export class RedisKeyNames {
  readonly prefix: string;

  constructor(prefix: string) {
    if (!/^[A-Za-z0-9:_.-]{0,64}$/.test(prefix)) {
      throw new Error(
        `Redis key prefix "${prefix}" may only hold letters, digits and : _ . - (at most 64)`,
      );
    }
    this.prefix = prefix;
  }

  /**
   * The hash tag every counter of a key's decision carries: its organization's, so that
   * on Redis Cluster the key's windows, its quota and its organization's windows (shared
   * by all of the organization's keys) live in one slot and one script call decides them.
   * A request without an organization (a limiter used directly) is tagged by its quota.
   */
  tag(subject: LimitSubject): string {
    return subject.orgId === undefined
      ? `{key:${subject.quotaId ?? subject.id}}`
      : `{org:${subject.orgId}}`;
  }

  /**
   * The counter `policy` spends for `subject` (for a calendar month, the month starting at
   * `monthStartMs`). A window's name holds its algorithm, whose state has another shape.
   */
  policy(subject: LimitSubject, policy: LimitPolicy, monthStartMs: number): string {
    const tag = this.tag(subject);
    if (policy.algorithm === "concurrency") {
      // The requests in flight (a sorted set of slots, see CONCURRENCY_SLOTS_LUA).
      return policy.scope === "organization"
        ? `${this.prefix}${tag}:slots:org`
        : `${this.prefix}${tag}:slots:key:${subject.id}`;
    }
    if (policy.algorithm === "calendar-month") {
      return `${this.prefix}${tag}:quota:${subject.quotaId ?? subject.id}:${monthStartMs}`;
    }
    const algorithm = ALGORITHM_NUMBER[policy.algorithm];
    return policy.scope === "organization"
      ? `${this.prefix}${tag}:org:${policy.name}:${algorithm}`
      : `${this.prefix}${tag}:key:${subject.id}:${policy.name}:${algorithm}`;
  }

  /** A quota's count (a key's `quotaId`) for the month starting at `monthStartMs`. */
  quota(subject: LimitSubject, monthStartMs: number): string {
    return `${this.prefix}${this.tag(subject)}:quota:${subject.quotaId ?? subject.id}:${monthStartMs}`;
  }

  /**
   * A lineage's credits spent in the balance period starting at `periodStartMs`: under the
   * same hash tag as the key's other counters, so one script call decides them all.
   */
  credits(subject: LimitSubject, periodStartMs: number): string {
    return `${this.prefix}${this.tag(subject)}:credits:${subject.quotaId ?? subject.id}:${periodStartMs}`;
  }

  bucket(bucket: string): string {
    return `${this.prefix}{bucket:${bucket}}`;
  }

  blocks(client: string): string {
    return `${this.prefix}{client:${client}}:blocks`;
  }

  /** SCAN pattern matching every client's block hash. */
  get blocksPattern(): string {
    return `${this.prefix}{client:*}:blocks`;
  }

  /** The client a block hash belongs to. */
  clientOfBlocks(redisKey: string): string {
    return redisKey.slice(this.prefix.length + "{client:".length, -"}:blocks".length);
  }

  /** The pub/sub channel of KeyGuard's change notices. */
  get changes(): string {
    return `${this.prefix}changes`;
  }
}
