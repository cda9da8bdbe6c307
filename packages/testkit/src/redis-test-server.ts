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
  /** Sends one command on a short-lived connection (FLUSHALL, CONFIG SET ...: faults). */
  command(name: string, ...args: (string | number)[]): Promise<unknown>;
}

/** Starts `redis-server` on a free port, with no persistence. */
export async function startOwnRedisServer(): Promise<OwnRedisServer> {
  const args = (port: number) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ];
  // Test runs beside this one pick free ports too: one may take this port between the probe
  // and redis-server's bind. Then another port is tried (a restart must keep its port, and
  // fails loudly instead).
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    child = await spawnRedisServer(port, args(port)).catch((error: unknown) => {
      if (attempt < 5 && error instanceof PortTakenError) return undefined;
      throw error;
    });
  }
  const server: OwnRedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = await spawnRedisServer(port, args(port));
    },
    async command(name, ...commandArgs) {
      const redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 0 });
      try {
        return await redis.call(name, ...commandArgs);
      } finally {
        redis.disconnect();
      }
    },
    async stop() {
      if (child === undefined || child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
      child = undefined;
    },
  };
  return server;
}

/** The port was someone else's by the time redis-server tried to listen on it. */
export class PortTakenError extends Error {}

/**
 * Spawns `redis-server` with `args` (listening on 127.0.0.1:`port`) and resolves once that
 * very process answers there (checked by its process id, so a server another test run
 * started on the same port is never mistaken for it), within 10 s; otherwise kills it and
 * rejects, with a {@link PortTakenError} if the port was taken.
 */
export async function spawnRedisServer(port: number, args: string[]): Promise<ChildProcess> {
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = once(child, "exit");
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const message = `redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}): ${output.trim().split("\n").slice(-3).join(" | ")}`;
        throw /already in use/i.test(output) ? new PortTakenError(message) : new Error(message);
      }
      const pid = await answeringPid(url);
      if (pid === child.pid) return child;
      if (pid !== undefined) {
        throw new PortTakenError(`port ${port} is another redis-server's (process ${pid})`);
      }
      if (Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer within 10 s: ${output}`);
      }
      await sleep(50);
    }
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    throw error;
  }
}

/** The process id of the Redis server answering at `url`, if one does. */
async function answeringPid(url: string): Promise<number | undefined> {
  const redis = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    const info = await redis.info("server");
    return Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
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
