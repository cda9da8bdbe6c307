import type { ChangeFeed, KeyGuardChange } from "@keyguard/core";
import type { Cluster, Redis } from "ioredis";
import { closeConnection } from "./close-connection.js";

export interface RedisChangeFeedOptions {
  /** Publishes notices (an ordinary connection: the limiter's can be shared). */
  readonly publisher: Redis | Cluster;
  /** Receives notices: a connection of its own, which this feed puts in subscriber mode. */
  readonly subscriber: Redis | Cluster;
  readonly channel: string;
  /** Close the subscriber with the feed (default `false`: the caller owns it). */
  readonly ownsSubscriber?: boolean;
  /** Told about a notice that could not be read (never thrown). */
  readonly onError?: (error: unknown) => void;
}

/**
 * KeyGuard's change notices over Redis pub/sub: a key revoked in one process is dropped
 * from every process's verification cache within a round trip. Pub/sub does not keep
 * messages, so when the subscriber reconnects after an outage the feed tells its listeners
 * to `resync` (drop what they cached) instead of trusting caches that may have missed a
 * notice.
 */
export class RedisChangeFeed implements ChangeFeed {
  readonly #options: RedisChangeFeedOptions;
  readonly #listeners = new Set<(change: KeyGuardChange) => void>();
  readonly #ready: Promise<void>;

  constructor(options: RedisChangeFeedOptions) {
    this.#options = options;
    const { subscriber, channel } = options;
    subscriber.on("message", (from: string, message: string) => {
      if (from !== channel) return;
      let change: KeyGuardChange;
      try {
        change = JSON.parse(message) as KeyGuardChange;
      } catch (error) {
        options.onError?.(error);
        return;
      }
      this.#emit(change);
    });
    subscriber.on("ready", () => {
      // Subscribe on every connection (SUBSCRIBE is idempotent, so the first one's queued
      // call, or a subscriber that re-subscribes by itself, does no harm). What was
      // published while this connection was down is lost: listeners drop what they cached.
      void this.#subscribe();
      this.#emit({ kind: "resync" });
    });
    this.#ready = this.#subscribe();
  }

  /** Never rejects: a failure is reported, and the next `ready` tries again. */
  #subscribe(): Promise<void> {
    return this.#options.subscriber.subscribe(this.#options.channel).then(
      () => {},
      (error: unknown) => this.#options.onError?.(error),
    );
  }

  /** Resolves once the subscription is in place (or has failed and been reported). */
  get ready(): Promise<void> {
    return this.#ready;
  }

  async publish(change: KeyGuardChange): Promise<void> {
    await this.#options.publisher.publish(this.#options.channel, JSON.stringify(change));
  }

  subscribe(listener: (change: KeyGuardChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    if (this.#options.ownsSubscriber) {
      await closeConnection(this.#options.subscriber);
    }
  }

  #emit(change: KeyGuardChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#options.onError?.(error);
      }
    }
  }
}
