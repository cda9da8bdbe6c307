import type { IpBlock } from "../ports/limiter.js";

/**
 * The manual IP blocks in force, held in memory so the request path checks them with a
 * map lookup. Filled from the store at start-up and re-read on an interval, so a block or
 * unblock made by another process (the CLI, the admin API, another server) takes effect
 * here within that interval.
 */
export class IpBlockList {
  #byClient = new Map<string, IpBlock[]>();

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

  add(block: IpBlock): void {
    const blocks = this.#byClient.get(block.client);
    if (blocks === undefined) this.#byClient.set(block.client, [block]);
    else blocks.push(block);
  }

  remove(client: string): void {
    this.#byClient.delete(client);
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
