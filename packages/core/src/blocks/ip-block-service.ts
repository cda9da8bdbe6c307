import { isIP } from "node:net";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { KEYGUARD_ACTOR } from "../events/event-actor.js";
import { blockFields, created, removed } from "../events/event-changes.js";
import type { EventRecorder } from "../events/event-recorder.js";
import type { ClientAddressResolver } from "../pipeline/client-address.js";
import type { GuardRequest } from "../pipeline/guard-request.js";
import { normalizePath } from "../pipeline/protected-path.js";
import type { KeyGuardChange } from "../ports/change-feed.js";
import type { IpBlock, Limiter } from "../ports/limiter.js";
import type { Store } from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import { MAX_DURATION_MS, parseDuration } from "../util/duration.js";
import {
  blockPathSchema,
  blockReasonSchema,
  hasControlCharacters,
  MAX_IP_LENGTH,
  parseInput,
} from "../validation/operation-inputs.js";
import { IpBlockList } from "./ip-block-list.js";

/** How long and where a block applies. */
export interface BlockOptions {
  /** Seconds, or a duration such as `"1 hour"` / `"30m"`. Default 24 hours; at most 10 years. */
  readonly duration?: string | number;
  /** An end time instead of a duration (in the future, at most 10 years away). */
  readonly until?: Date;
  /** `"global"` (default): every protected route; `"path"`: only `path`. */
  readonly scope?: "global" | "path";
  /** Starts with `/`; at most 2,048 characters, no control characters (even encoded). */
  readonly path?: string;
  /** Recorded with the block; default `"manual"`. At most 200 characters, no control characters. */
  readonly reason?: string;
}

export interface IpBlockServiceOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** Where each change's event goes (written in the change's transaction). */
  readonly events: EventRecorder;
  readonly clientAddress: ClientAddressResolver;
  readonly clientOf: (request: GuardRequest) => string;
  /**
   * Holds automatic blocks and lockouts; `unblockIp` lifts those too. Manual blocks are
   * written to it as well, so with a shared limiter (Redis) they apply everywhere at once.
   */
  readonly limiter: Limiter | undefined;
  /** Tells other processes to re-read the stored blocks (a change feed), if there is one. */
  readonly publish: (change: KeyGuardChange) => Promise<void>;
  readonly syncIntervalMs: number;
  readonly onBackgroundError: (error: unknown) => void;
}

/**
 * Manual IP blocks: validated, stored in the database (so they survive restarts and reach
 * every process), and mirrored in an in-memory {@link IpBlockList} that the request path
 * reads without I/O. Other processes pick a block up when they next re-read the store
 * (every `syncIntervalMs`), or at once when a change feed tells them. IPv6 addresses are
 * blocked per configured subnet, as the pipeline identifies clients; path blocks are keyed
 * by the normalised path.
 */
export class IpBlockService {
  readonly #options: IpBlockServiceOptions;
  /** Manual blocks: every one the store holds (operators make them; re-read periodically). */
  readonly #list = new IpBlockList();
  /**
   * Automatic blocks (failed authentications, lockouts), bounded: clients can make these,
   * so past {@link MAX_AUTOMATIC_BLOCKS} clients the longest-held are forgotten here (the
   * limiter still holds them). Read from the store at start-up and on a resync, kept in
   * step by notices otherwise: a restart, or a Redis that lost its data, lifts none.
   */
  readonly #automatic = new IpBlockList(MAX_AUTOMATIC_BLOCKS);
  #sync: { timer: NodeJS.Timeout; ready: Promise<void> } | undefined;
  /** Reads of the store started so far, and the first whose result is not outdated. */
  #loadsStarted = 0;
  #firstCurrentLoad = 0;
  /**
   * Automatic-block changes made or heard while a read of them is under way, replayed on
   * its result (which may predate them). Only kept while a read is under way.
   */
  #automaticChanges: { client: string; block: IpBlock | undefined }[] = [];
  #automaticLoads = 0;

  constructor(options: IpBlockServiceOptions) {
    this.#options = options;
  }

  async blockIp(ip: string, options: BlockOptions): Promise<IpBlock> {
    const address = ipText(ip);
    if (!isIP(address)) {
      throw new KeyGuardError("invalid_input", `"${String(ip).slice(0, 64)}" is not an IP address`);
    }
    return this.#block(this.#options.clientAddress(address, undefined), options);
  }

  /**
   * Blocks the client of `request`. A path block on the request's own path that could not
   * be stored (over 2,048 characters, or control characters once decoded: a path the
   * client chose) blocks the client everywhere instead, so no path escapes a block.
   */
  blockRequest(request: GuardRequest, options: BlockOptions): Promise<IpBlock> {
    const client = this.#options.clientOf(request);
    if ((options.scope ?? "global") !== "path" || options.path !== undefined) {
      return this.#block(client, options);
    }
    const storable = blockPathSchema.safeParse(request.path).success;
    return this.#block(
      client,
      storable ? { ...options, path: request.path } : { ...options, scope: "global" },
    );
  }

  async unblockIp(ip: string): Promise<boolean> {
    const address = ipText(ip);
    const client = isIP(address) ? this.#options.clientAddress(address, undefined) : address;
    if (client === "") throw new KeyGuardError("invalid_input", "an IP address is required");
    const { store, events } = this.#options;
    const deleted = await events.write(
      (blocks: readonly IpBlock[]) => ({
        action: "ip_block.lifted",
        targetId: client,
        changes: removed({ blocks: blocks.length, ...blockFields(latestEnding(blocks)) }),
      }),
      (record) => store.deleteIpBlocks(client, record),
    );
    this.#list.remove(client);
    this.#automaticChanged(client, undefined);
    const lifted = (await this.#options.limiter?.unblock(client)) ?? false;
    if (deleted === 0 && lifted) {
      // A block only the limiter held (its row was never written): no store change to
      // ride on, so the event is written on its own.
      const event = events.event({
        action: "ip_block.lifted",
        targetId: client,
        changes: removed({ blocks: 1 }),
      });
      await store.appendAuditEvent(event);
      events.committed(event);
    }
    await this.#options.publish({ kind: "ip-blocks", client, stored: true });
    return deleted > 0 || lifted;
  }

  async listBlocks(): Promise<IpBlock[]> {
    const now = this.#options.clock.now();
    const stored = await this.#options.store.listIpBlocks(new Date(now));
    const limiter = this.#options.limiter;
    const inLimiter = limiter === undefined ? [] : await limiter.listBlocks(now);
    // Stored blocks are in both: list each block once. One only the limiter holds is
    // automatic (its row could not be written, or predates stored automatic blocks).
    const seen = new Set(stored.map(blockIdentity));
    return [
      ...stored,
      ...inLimiter
        .filter((block) => !seen.has(blockIdentity(block)))
        .map((block) => (block.automatic === true ? block : { ...block, automatic: true })),
    ];
  }

  /**
   * The stored block covering `client` on `path` at `now`, manual or automatic, from
   * memory (no I/O): the longest-lasting.
   */
  findManualBlock(client: string, path: string, now: number): IpBlock | undefined {
    const manual = this.#list.find(client, path, now);
    const automatic = this.#automatic.find(client, path, now);
    if (manual === undefined) return automatic;
    if (automatic === undefined) return manual;
    return automatic.untilMs > manual.untilMs ? automatic : manual;
  }

  /**
   * Records a block KeyGuard decided on (failed authentications past the threshold, a
   * lockout): in the limiter first, so it applies at once (in every process, with Redis),
   * then stored like a manual block, so a restart (of this server without Redis, or of a
   * Redis that comes back empty) lifts nothing. A store that fails is reported, not
   * thrown: the block then holds in the limiter until it ends, or until a restart.
   */
  async blockAutomatically(block: IpBlock): Promise<void> {
    const automatic: IpBlock = block.automatic === true ? block : { ...block, automatic: true };
    const { store, clock, limiter, onBackgroundError } = this.#options;
    await limiter?.block(automatic, clock.now());
    this.#automaticChanged(automatic.client, automatic);
    try {
      await this.#options.events.write(
        (stored: IpBlock) => ({
          action: "ip.auto_blocked",
          targetId: stored.client,
          changes: created(blockFields(stored)),
        }),
        (record) => store.insertIpBlock(automatic, record),
        KEYGUARD_ACTOR,
      );
    } catch (error) {
      onBackgroundError(error);
      return;
    }
    await this.#options.publish({
      kind: "ip-blocks",
      client: automatic.client,
      block: automatic,
      stored: true,
    });
  }

  /** Starts the periodic re-read (once); resolves when the first load is done. */
  sync(): Promise<void> {
    if (this.#sync === undefined) {
      const ready = Promise.all([
        this.#load().catch(this.#options.onBackgroundError),
        this.#loadAutomatic().catch(this.#options.onBackgroundError),
      ]).then(() => {});
      const timer = setInterval(() => {
        this.reload();
        this.#sweepIfDue();
      }, this.#options.syncIntervalMs);
      timer.unref();
      this.#sync = { timer, ready };
    }
    return this.#sync.ready;
  }

  /**
   * Another process blocked or unblocked a client. A stored (manual) change applies to the
   * in-memory list at once, and the list is then re-read to be sure it matches the store.
   */
  hear(change: Extract<KeyGuardChange, { kind: "ip-blocks" }>): void {
    if (!change.stored) return; // the limiter's own blocks: the limiter keeps those
    if (change.block === undefined) {
      this.#list.remove(change.client);
      this.#automaticChanged(change.client, undefined);
    } else if (change.block.automatic === true) {
      this.#automaticChanged(change.client, change.block);
      return; // the manual blocks did not change
    } else {
      this.#list.add(change.block);
    }
    // A read already under way may predate this change: its result must not undo it.
    this.#firstCurrentLoad = this.#loadsStarted + 1;
    this.reload();
  }

  /** Re-reads the stored manual blocks now (another process changed them). */
  reload(): void {
    if (this.#sync === undefined) return; // not serving requests: nothing to keep in step
    this.#load().catch(this.#options.onBackgroundError);
  }

  /**
   * Re-reads every stored block, the automatic ones too: notices may have been missed (the
   * change feed reconnected), or the limiter lost its own copy (Redis restarted empty).
   */
  resync(): void {
    if (this.#sync === undefined) return;
    this.#load().catch(this.#options.onBackgroundError);
    this.#loadAutomatic().catch(this.#options.onBackgroundError);
  }

  async #load(): Promise<void> {
    const { store, clock } = this.#options;
    const load = ++this.#loadsStarted;
    const blocks = await store.listIpBlocks(new Date(clock.now()), { automatic: false });
    if (load >= this.#firstCurrentLoad) this.#list.replaceAll(blocks);
  }

  /** Not on the periodic re-read: clients can make many, and notices keep these in step. */
  async #loadAutomatic(): Promise<void> {
    const { store, clock } = this.#options;
    this.#automaticLoads++;
    const since = this.#automaticChanges.length;
    try {
      const blocks = await store.listIpBlocks(new Date(clock.now()), {
        automatic: true,
        limit: MAX_AUTOMATIC_BLOCKS,
      });
      this.#automatic.replaceAll(blocks);
      for (const { client, block } of this.#automaticChanges.slice(since)) {
        this.#applyAutomatic(client, block);
      }
    } finally {
      if (--this.#automaticLoads === 0) this.#automaticChanges = [];
    }
  }

  #automaticChanged(client: string, block: IpBlock | undefined): void {
    this.#applyAutomatic(client, block);
    if (this.#automaticLoads > 0) this.#automaticChanges.push({ client, block });
  }

  #applyAutomatic(client: string, block: IpBlock | undefined): void {
    if (block === undefined) this.#automatic.remove(client);
    else this.#automatic.add(block);
  }

  /** When ended automatic blocks were last deleted (at most once an hour, by each process). */
  #sweptAtMs = Number.NEGATIVE_INFINITY;

  #sweepIfDue(): void {
    const { store, clock, onBackgroundError } = this.#options;
    const now = clock.now();
    if (store.deleteEndedAutomaticBlocks === undefined || now - this.#sweptAtMs < SWEEP_EVERY_MS) {
      return;
    }
    this.#sweptAtMs = now;
    store.deleteEndedAutomaticBlocks(new Date(now)).catch(onBackgroundError);
  }

  stopSync(): void {
    if (this.#sync !== undefined) clearInterval(this.#sync.timer);
  }

  async #block(client: string, options: BlockOptions): Promise<IpBlock> {
    const now = this.#options.clock.now();
    const scope = options.scope ?? "global";
    if (scope !== "global" && scope !== "path") {
      throw new KeyGuardError("invalid_input", 'scope must be "global" or "path"');
    }
    if (scope === "path" && options.path === undefined) {
      throw new KeyGuardError(
        "invalid_input",
        'a "path" block needs the path it applies to, starting with "/"',
      );
    }
    const path = scope === "path" ? parseInput(blockPathSchema, options.path, "path") : undefined;
    const untilMs = options.until !== undefined ? untilOf(options.until) : undefined;
    const endMs = untilMs ?? now + parseDuration(options.duration ?? "24h", "duration");
    if (endMs <= now) throw new KeyGuardError("invalid_input", "a block must end in the future");
    if (endMs - now > MAX_DURATION_MS) {
      throw new KeyGuardError(
        "invalid_input",
        "until: a block may last at most 3650 days (10 years)",
      );
    }
    const block: IpBlock = {
      client,
      scope,
      ...(path === undefined ? {} : { path: normalizePath(path) }),
      untilMs: endMs,
      reason: parseInput(blockReasonSchema, options.reason ?? "manual", "reason"),
    };
    await this.#options.events.write(
      (stored: IpBlock) => ({
        action: "ip_block.created",
        targetId: stored.client,
        changes: created(blockFields(stored)),
      }),
      (record) => this.#options.store.insertIpBlock(block, record),
    );
    this.#list.add(block);
    await this.#options.limiter?.block(block, now);
    await this.#options.publish({ kind: "ip-blocks", client, block, stored: true });
    return block;
  }
}

/**
 * Most automatic blocks held in memory (and read from the store at start-up): as many
 * clients as the memory limiter keeps blocked.
 */
const MAX_AUTOMATIC_BLOCKS = 100_000;

/** The block of several that lasts longest: what an audit event shows of them. */
function latestEnding(blocks: readonly IpBlock[]): IpBlock {
  return blocks.reduce((a, b) => (b.untilMs > a.untilMs ? b : a));
}

/** How often ended automatic blocks are deleted from the store. */
const SWEEP_EVERY_MS = 3_600_000;

/** An IP argument as text: trimmed, and refused past any IP's length before it is parsed. */
function ipText(ip: unknown): string {
  const address = typeof ip === "string" ? ip.trim() : "";
  if (address.length > MAX_IP_LENGTH) {
    throw new KeyGuardError("invalid_input", `ip must be at most ${MAX_IP_LENGTH} characters`);
  }
  if (hasControlCharacters(address)) {
    throw new KeyGuardError("invalid_input", "ip must not contain control characters");
  }
  return address;
}

function untilOf(until: unknown): number {
  const ms = until instanceof Date ? until.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new KeyGuardError("invalid_input", "until must be a valid date");
  return ms;
}

function blockIdentity(block: IpBlock): string {
  return `${block.client}\u0000${block.scope}\u0000${block.path ?? ""}\u0000${block.untilMs}`;
}
