import type { KeyGuardChange } from "@keyguard/core";
import {
  cleanedRedisPrefixes,
  eventually,
  type OwnRedisServer,
  redisAvailable,
  seedPolicies,
  startOwnRedisServer,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
} from "@keyguard/testkit";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisBackend, type RedisBackend } from "../src/index.js";

const available = await redisAvailable();
const prefixFor = cleanedRedisPrefixes();
/**
 * How long one notice between backends is awaited: they arrive asynchronously (pub/sub; the
 * example app measures the bound at p99), and without a notice B would keep A's block for
 * its whole minute, so this only has to be far above a busy machine's delays.
 */
const NOTICE_WAIT_MS = 5_000;

const decision = (backend: RedisBackend, id = "k") =>
  backend.limiter.decide({
    now: Date.now(),
    client: "203.0.113.20",
    path: "/api/data",
    key: { id },
    policies: seedPolicies(1000, "gcra", null),
  });

/**
 * The promise rejects because the command was refused on the spot (no offline queue), not
 * because it waited for its command timeout: told apart by ioredis's reason, not by a time,
 * so a busy machine cannot make it fail or pass by accident.
 */
async function refusedAtOnce(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toThrow(/enableOfflineQueue options is false/);
}

/** Backend options that count the connections' reconnection attempts (same delays). */
function countingReconnects() {
  const counter = { attempts: 0 };
  const redisOptions = {
    retryStrategy: (attempt: number) => {
      counter.attempts++;
      return Math.min(attempt * 100, 1_000);
    },
  };
  return { counter, redisOptions };
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
    const { counter, redisOptions } = countingReconnects();
    const backend = await backendOn(server, "fault", {
      onError: (error) => errors.push(error),
      redisOptions,
    });
    expect(backend.connected).toBe(true);
    expect((await decision(backend)).allowed).toBe(true);

    await server.stop();
    // Commands fail at once (no offline queue), however many arrive.
    await Promise.all(Array.from({ length: 50 }, () => refusedAtOnce(decision(backend))));
    // Reported once, however often the connections try again (counted, not slept for).
    await eventually(() => expect(counter.attempts).toBeGreaterThanOrEqual(6), 20_000);
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
        key: { id },
        policies: seedPolicies(5, "sliding-window-log", null),
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
    await refusedAtOnce(decision(backend));
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

describe.runIf(available)("Redis loses its data (a server of the test's own)", () => {
  const quotaRequest = (backend: RedisBackend, now: number) =>
    backend.limiter.decide({
      now,
      client: "203.0.113.21",
      path: "/api/data",
      key: { id: "q" },
      policies: seedPolicies(1000, "gcra", 5),
    });
  const monthStart = (now: number) =>
    Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);

  it("refuses to count a seeded quota from zero after FLUSHALL, with no disconnection", async () => {
    const server = await startOwnRedisServer();
    const backend = await backendOn(server, "flushall");
    const now = Date.now();
    await backend.limiter.seedQuota("q", monthStart(now), 3); // what the store recorded
    expect((await quotaRequest(backend, now)).policies[1]?.remaining).toBe(1);

    const admin = new Redis(server.url);
    await admin.flushall();
    const failed = await quotaRequest(backend, now).then(
      () => "counted",
      (error: Error) => error.name,
    );
    expect(failed).toBe("QuotaSeedLostError");
    expect(await admin.dbsize()).toBe(0); // nothing was counted

    // Seeded again from the store (4 now), the count goes on where it was.
    await backend.limiter.seedQuota("q", monthStart(now), 4);
    expect((await quotaRequest(backend, now)).policies[1]?.remaining).toBe(0);
    expect((await quotaRequest(backend, now)).refusal).toBe("quota_exceeded");
    admin.disconnect();
    await closeBoth(backend, server);
  });

  it("tells listeners after reconnecting to a server that restarted empty", async () => {
    const server = await startOwnRedisServer();
    const backend = await backendOn(server, "restart");
    const now = Date.now();
    await backend.limiter.seedQuota("q", monthStart(now), 5);
    expect((await quotaRequest(backend, now)).refusal).toBe("quota_exceeded");
    let lost = 0;
    backend.limiter.onStateLost(() => lost++);
    await server.stop();
    await server.start();
    await eventually(() => expect(lost).toBeGreaterThanOrEqual(1), 5_000);
    // The month's refusal was forgotten with it: asked anew, the missing count is caught.
    await eventually(async () => {
      const answer = await quotaRequest(backend, now).then(
        () => "counted",
        (error: Error) => error.name,
      );
      expect(answer).toBe("QuotaSeedLostError");
    }, 5_000);
    await closeBoth(backend, server);
  });

  it("counts an unseeded quota from zero, as before (nothing was promised)", async () => {
    const server = await startOwnRedisServer();
    const backend = await backendOn(server, "unseeded");
    const now = Date.now();
    expect((await quotaRequest(backend, now)).policies[1]?.remaining).toBe(4);
    const admin = new Redis(server.url);
    await admin.flushall();
    expect((await quotaRequest(backend, now)).policies[1]?.remaining).toBe(4);
    admin.disconnect();
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
      NOTICE_WAIT_MS,
    );

    // B learns of A's block (and caches it), then of A's unblock (and forgets it).
    const now = Date.now();
    await a.limiter.block(
      { client: "203.0.113.20", scope: "global", untilMs: now + 60_000, reason: "manual" },
      now,
    );
    await eventually(
      async () => expect((await decision(b)).refusal).toBe("ip_blocked"),
      NOTICE_WAIT_MS,
    );
    await a.limiter.unblock("203.0.113.20");
    await eventually(async () => expect((await decision(b)).allowed).toBe(true), NOTICE_WAIT_MS);
    for (const backend of [a, b]) {
      await backend.changeFeed.close();
      await backend.limiter.close();
    }
  });
});
