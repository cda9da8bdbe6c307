import type { IpBlock } from "../ports/limiter.js";
import { detachString } from "../util/detach-string.js";

/**
 * IP blocks held in memory so the request path checks them with a map lookup. Core keeps
 * the manual blocks here (filled from the store at start-up and re-read on an interval, so
 * a block made by another process takes effect within that interval); the Redis limiter
 * keeps the blocks it has seen, so a blocked client's flood costs no Redis command.
 */
export class IpBlockList {
  #byClient = new Map<string, IpBlock[]>();
  readonly #maxClients: number;

  /**
   * @param maxClients For a cache: past this many clients the longest-held are forgotten
   *   (and must be looked up again). Unbounded by default: the manual list is the truth.
   */
  constructor(maxClients = Number.POSITIVE_INFINITY) {
    this.#maxClients = maxClients;
  }

  /** The longest block on `client` that covers `path` at `now`. */
  find(client: string, path: string, now: number): IpBlock | undefined {
    const blocks = this.#byClient.get(client);
    if (blocks === undefined) return undefined;
    let found: IpBlock | undefined;
    for (const block of blocks) {
      if (block.untilMs > now && (block.scope === "global" || block.path === path)) {
        if (found === undefined || block.untilMs > found.untilMs) found = block;
      }
    }
    return found;
  }

  /** Adds a block, replacing the client's block of the same scope and path. */
  add(added: IpBlock): void {
    // Kept for the block's life: its path must not be a view into a request target.
    const block = added.path === undefined ? added : { ...added, path: detachString(added.path) };
    const blocks = (this.#byClient.get(block.client) ?? []).filter(
      (known) => !(known.scope === block.scope && known.path === block.path),
    );
    blocks.push(block);
    // Re-inserted, so the Map's order is oldest-touched first: eviction takes from the front.
    this.#byClient.delete(block.client);
    this.#byClient.set(block.client, blocks);
    if (this.#byClient.size > this.#maxClients) {
      const oldest = this.#byClient.keys().next().value;
      if (oldest !== undefined) this.#byClient.delete(oldest);
    }
  }

  remove(client: string): void {
    this.#byClient.delete(client);
  }

  clear(): void {
    this.#byClient.clear();
  }

  /** Replaces everything with what the store holds now. */
  replaceAll(blocks: readonly IpBlock[]): void {
    const next = new Map<string, IpBlock[]>();
    for (const block of blocks) {
      const list = next.get(block.client);
      if (list === undefined) next.set(block.client, [block]);
      else list.push(block);
    }
    this.#byClient = next;
  }
}
