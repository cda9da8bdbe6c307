import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll } from "vitest";

/** The Redis server the tests share. */
export const TEST_REDIS_URL = process.env.KEYGUARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Whether the test Redis answers. With `CI=true` an unreachable server is an error (CI
 * must run these suites, never skip them); locally the suite is skipped, loudly.
 */
export async function redisAvailable(): Promise<boolean> {
  const redis = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch (error) {
    const message = `Redis is not answering at ${TEST_REDIS_URL} (${(error as Error).message}).`;
    if (process.env.CI === "true") {
      throw new Error(`${message} CI must run the Redis suites: start the server (see README).`);
    }
    console.warn(`\n!!! SKIPPING Redis tests: ${message}\n`);
    return false;
  } finally {
    redis.disconnect();
  }
}

/** A key prefix of its own for one test, so test files can share the server. */
export function uniqueRedisPrefix(label = "t"): string {
  return `kgtest:${label}:${randomBytes(5).toString("hex")}:`;
}

/**
 * Fresh prefixes for one test file, every key under them deleted after its tests. Call it
 * at module level: `const prefixFor = cleanedRedisPrefixes(); limiterOn(prefixFor("race"))`.
 */
export function cleanedRedisPrefixes(): (label?: string) => string {
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
  });
  return (label) => {
    const prefix = uniqueRedisPrefix(label);
    prefixes.push(prefix);
    return prefix;
  };
}

/** Deletes every key under `prefix` (test clean-up). */
export async function deleteRedisKeys(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Calls per command since the server started (or `CONFIG RESETSTAT`), from INFO commandstats. */
export async function redisCommandCounts(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info("commandstats");
  const counts = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts.set(match[1] as string, Number(match[2]));
  }
  return counts;
}

/**
 * The commands clients sent to Redis while `run` ran (by MONITOR, so commands a Lua script
 * runs inside its one call are not counted), lower-case, in order.
 */
export async function recordRedisCommands(
  url: string,
  run: () => Promise<void>,
): Promise<string[]> {
  const watcher = new Redis(url);
  const probe = new Redis(url);
  await probe.ping(); // connected before monitoring starts, so its handshake is not counted
  const monitor = await watcher.monitor();
  const marker = `kg-monitor-end-${randomBytes(4).toString("hex")}`;
  const seen: string[] = [];
  let resolveEnd: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    resolveEnd = resolve;
  });
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === "echo" && args[1] === marker) resolveEnd();
    else if (source !== "lua") seen.push((args[0] ?? "").toLowerCase());
  });
  try {
    await run();
    await probe.echo(marker);
    await ended;
  } finally {
    probe.disconnect();
    monitor.disconnect();
    watcher.disconnect();
  }
  return seen;
}

/** A redis-server of a test's own, which the test may stop and start again (fault tests). */
export interface OwnRedisServer {
  readonly port: number;
  readonly url: string;
  /** Kills the server (its data is gone: it keeps nothing on disk). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Starts `redis-server` on a free port, with no persistence. */
export async function startOwnRedisServer(): Promise<OwnRedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const server: OwnRedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      await waitForPing(server.url);
    },
    async stop() {
      if (child === undefined || child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
      child = undefined;
    },
  };
  await server.start();
  return server;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const address = probe.address();
  probe.close();
  await once(probe, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Waits until a Redis server at `url` answers PING (10 s at most). */
export async function waitForPing(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const redis = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
    redis.on("error", () => {});
    try {
      await redis.connect();
      await redis.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    } finally {
      redis.disconnect();
    }
  }
}
