/**
 * Names of KeyGuard's Redis keys. Everything one script touches for a key shares the hash
 * tag `{key:<quota id>}` (a rotation lineage's keys share one quota), so on Redis Cluster it
 * lives in one slot; a client's blocks and each
 * bucket have tags of their own. The prefix lets several apps share one Redis.
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
   * A key's rate window. It carries the hash tag of the quota the key spends, which the
   * same script call updates (on a Cluster, one slot); a key spending its own quota keeps
   * the plain name.
   */
  rate(keyId: string, quotaId: string = keyId): string {
    return quotaId === keyId
      ? `${this.prefix}{key:${keyId}}:rate`
      : `${this.prefix}{key:${quotaId}}:rate:${keyId}`;
  }

  /** A quota's count (a key's `quotaId`) for the month starting at `monthStartMs`. */
  quota(quotaId: string, monthStartMs: number): string {
    return `${this.prefix}{key:${quotaId}}:quota:${monthStartMs}`;
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
