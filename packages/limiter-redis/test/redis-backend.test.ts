import type { KeyGuardChange } from "@keyguard/core";
import {
  cleanedRedisPrefixes,
  eventually,
  type OwnRedisServer,
  redisAvailable,
  startOwnRedisServer,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
} from "@keyguard/testkit";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisBackend, type RedisBackend } from "../src/index.js";

const available = await redisAvailable();
const prefixFor = cleanedRedisPrefixes();

const decision = (backend: RedisBackend, id = "k") =>
  backend.limiter.decide({
    now: Date.now(),
    client: "203.0.113.20",
    path: "/api/data",
    algorithm: "gcra",
    key: { id, rateLimitPerMinute: 1000, monthlyLimit: null },
  });

/** How long a promise takes to reject (it must reject). */
async function rejectionTime(promise: Promise<unknown>): Promise<number> {
  const started = Date.now();
  await expect(promise).rejects.toThrow();
  return Date.now() - started;
}

/** A backend on a test's own server (outages are the point: reported nowhere unless asked). */
const backendOn = (server: OwnRedisServer, label: string, options: BackendOptions = {}) =>
  createRedisBackend({
    url: server.url,
    prefix: uniqueRedisPrefix(label),
    onError: () => {},
    ...options,
  });
type BackendOptions = Partial<Parameters<typeof createRedisBackend>[0]>;

async function closeBoth(backend: RedisBackend, server: OwnRedisServer): Promise<void> {
  await backend.changeFeed.close();
  await backend.limiter.close();
  await server.stop();
}

describe.runIf(available)("Redis backend faults", () => {
  it("refuses fast while Redis is down, reports the outage once, and resumes by itself", async () => {
    const server = await startOwnRedisServer();
    const errors: unknown[] = [];
    const backend = await backendOn(server, "fault", { onError: (error) => errors.push(error) });
    expect(backend.connected).toBe(true);
    expect((await decision(backend)).allowed).toBe(true);

    await server.stop();
    // Commands fail at once (no offline queue), however many arrive.
    const times = await Promise.all(
      Array.from({ length: 50 }, () => rejectionTime(decision(backend))),
    );
    expect(Math.max(...times)).toBeLessThan(1_500);
    await new Promise((resolve) => setTimeout(resolve, 500)); // several reconnect attempts
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/unreachable/);

    await server.start();
    await eventually(async () => expect((await decision(backend)).allowed).toBe(true), 5_000);
    await closeBoth(backend, server);
  });

  it("never sends again, after Redis returns, a decision that already failed", async () => {
    const server = await startOwnRedisServer();
    const backend = await backendOn(server, "resend");
    const limited = (id: string) =>
      backend.limiter.decide({
        now: Date.now(),
        client: "203.0.113.20",
        path: "/api/data",
        algorithm: "sliding-window-log",
        key: { id, rateLimitPerMinute: 5, monthlyLimit: null },
      });
    // The server holds the next command unanswered; it dies with the command in flight.
    const admin = new Redis(server.url);
    await admin.call("CLIENT", "PAUSE", "5000", "ALL");
    const failed = limited("lost").then(
      () => false,
      () => true,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.stop();
    expect(await failed).toBe(true);
    admin.disconnect();

    await server.start();
    // Its caller was answered (503): the request must not count once Redis is back.
    await eventually(() => limited("lost"), 5_000);
    expect((await limited("lost")).remaining).toBe(3);
    await closeBoth(backend, server);
  });

  it("starts while Redis is unreachable and begins limiting once it answers", async () => {
    const server = await startOwnRedisServer();
    await server.stop();
    const backend = await backendOn(server, "late", { connectTimeoutMs: 300 });
    expect(backend.connected).toBe(false);
    expect(await rejectionTime(decision(backend))).toBeLessThan(1_000);
    await server.start();
    await eventually(async () => expect((await decision(backend)).allowed).toBe(true), 5_000);
    await closeBoth(backend, server);
  });

  it("tells listeners to resync after the subscriber reconnects, and hears notices again", async () => {
    const server = await startOwnRedisServer();
    const backend = await backendOn(server, "resync");
    await backend.changeFeed.ready;
    const heard: KeyGuardChange[] = [];
    backend.changeFeed.subscribe((change) => heard.push(change));
    await server.stop();
    await server.start();
    await eventually(async () => expect(heard).toContainEqual({ kind: "resync" }), 5_000);
    // Subscribed again: a notice published now reaches the listener.
    const notice: KeyGuardChange = { kind: "api-key", keyHash: "after-outage" };
    await eventually(async () => {
      await backend.changeFeed.publish(notice);
      expect(heard).toContainEqual(notice);
    }, 5_000);
    await closeBoth(backend, server);
  });
});

describe.runIf(available)("Redis change feed between processes' backends", () => {
  it("delivers notices to every backend, and keeps their local block caches right", async () => {
    const prefix = prefixFor("feed");
    const [a, b] = await Promise.all([
      createRedisBackend({ url: TEST_REDIS_URL, prefix }),
      createRedisBackend({ url: TEST_REDIS_URL, prefix }),
    ]);
    await Promise.all([a.changeFeed.ready, b.changeFeed.ready]);
    const heardByB: KeyGuardChange[] = [];
    b.changeFeed.subscribe((change) => heardByB.push(change));

    await a.changeFeed.publish({ kind: "api-key", keyHash: "abc" });
    await eventually(
      async () => expect(heardByB).toContainEqual({ kind: "api-key", keyHash: "abc" }),
      1_000,
    );

    // B learns of A's block (and caches it), then of A's unblock (and forgets it).
    const now = Date.now();
    await a.limiter.block(
      { client: "203.0.113.20", scope: "global", untilMs: now + 60_000, reason: "manual" },
      now,
    );
    expect((await decision(b)).refusal).toBe("ip_blocked");
    await a.limiter.unblock("203.0.113.20");
    await eventually(async () => expect((await decision(b)).allowed).toBe(true), 1_000);
    for (const backend of [a, b]) {
      await backend.changeFeed.close();
      await backend.limiter.close();
    }
  });
});
