import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { redisCommandCounts, startOwnRedisServer } from "@keyguard/testkit";
import { Redis } from "ioredis";
import { summarize } from "../side-by-side.js";
import {
  cpuSecondsOf,
  fmt,
  hasTaskset,
  load,
  prepareBenchDatabase,
  startServer,
} from "./bench-processes.js";

/** Calls per command between two INFO commandstats readings. */
function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const result = new Map<string, number>();
  for (const [name, calls] of after) {
    const difference = calls - (before.get(name) ?? 0);
    if (difference > 0 && name !== "info") result.set(name, difference);
  }
  return result;
}

/**
 * Fastify on Redis, side by side: KeyGuard (key auth + shared limit + headers + usage
 * logging, RedisLimiter), @fastify/rate-limit with its Redis store, and rate-limiter-flexible's
 * RateLimiterRedis in an onRequest hook (both limiting per IP only). All three use one
 * redis-server started for the run, so INFO commandstats deltas count their commands alone.
 * Also a flood of one key that is over its limit: refusals known locally cost no command.
 */
export async function runRedisBenchmarks(
  options: { seconds?: number; rounds?: number } = {},
): Promise<string[]> {
  const seconds = options.seconds ?? 3;
  // Ten rounds (about 2 minutes): single rounds on a shared 2-core VM swing by ±30%, and
  // with four the median of a run still moved by ±0.15 from one run to the next.
  const rounds = options.rounds ?? 10;
  const pin = hasTaskset();
  const redisServer = await startOwnRedisServer();
  process.env.BENCH_REDIS_URL = redisServer.url;
  const stats = new Redis(redisServer.url);
  const {
    dir,
    databaseFile,
    rawKeys: [rawKey = "", tightKey = ""],
  } = await prepareBenchDatabase([
    { rateLimitPerMinute: 1_000_000_000, monthlyLimit: 1_000_000_000 },
    { rateLimitPerMinute: 1 },
  ]);

  const lines = [
    `(${seconds} s per measurement, ${rounds} rounds, ${pin ? "server on core 1, load on core 0" : "no taskset: unpinned"}, redis-server ${redisServer.url} unpinned)`,
  ];
  const children: ChildProcess[] = [];
  try {
    const servers = {
      keyguard: await startServer("fastify", "keyguard-redis", databaseFile, pin, children),
      peer: await startServer("fastify", "peer-redis", databaseFile, pin, children),
      flexible: await startServer("fastify", "flexible-redis", databaseFile, pin, children),
    };
    const contenders = [
      { name: "keyguard", server: servers.keyguard, key: rawKey, mode: "valid" },
      { name: "peer", server: servers.peer, key: "", mode: "none" },
      { name: "flexible", server: servers.flexible, key: "", mode: "none" },
    ];
    for (const c of contenders) load(c.server.url, 2, c.mode, c.key, pin); // warm-up, not recorded
    const results: Record<string, number[]> = Object.fromEntries(
      contenders.map((c) => [c.name, []]),
    );
    /** Server CPU µs per request, per round (empty without /proc). */
    const cpuPerRequest: Record<string, number[]> = Object.fromEntries(
      contenders.map((c) => [c.name, []]),
    );
    const commands: Record<string, { calls: Map<string, number>; requests: number }> = {};
    const problems: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const shift = round % contenders.length;
      for (const c of [...contenders.slice(shift), ...contenders.slice(0, shift)]) {
        const before = await redisCommandCounts(stats);
        const cpuBefore = cpuSecondsOf(c.server.child.pid);
        const result = load(c.server.url, seconds, c.mode, c.key, pin);
        const cpuAfter = cpuSecondsOf(c.server.child.pid);
        const used = delta(before, await redisCommandCounts(stats));
        if (cpuBefore !== undefined && cpuAfter !== undefined && result.total > 0) {
          cpuPerRequest[c.name]?.push((1e6 * (cpuAfter - cpuBefore)) / result.total);
        }
        const total = commands[c.name] ?? { calls: new Map(), requests: 0 };
        commands[c.name] = total;
        total.requests += result.total;
        for (const [name, calls] of used)
          total.calls.set(name, (total.calls.get(name) ?? 0) + calls);
        results[c.name]?.push(result.requestsPerSecond);
        if (result.errors > 0 || result.non2xx > 0) {
          problems.push(
            `${c.name}: ${result.non2xx} non-2xx, ${result.errors} errors of ${result.total}`,
          );
        }
      }
    }
    // A key over its limit, hammered: after the first refusal, no Redis command at all.
    const before = await redisCommandCounts(stats);
    const refused = load(servers.keyguard.url, seconds, "valid", tightKey, pin);
    const refusedCalls = delta(before, await redisCommandCounts(stats));
    const refusedScripts = (refusedCalls.get("evalsha") ?? 0) + (refusedCalls.get("eval") ?? 0);

    const series = (name: string) => results[name] ?? [];
    const ratio = (a: string, b: string) =>
      series(a).map((v, i) => v / (series(b)[i] ?? Number.NaN));
    const rps = (name: string) =>
      Math.round(summarize(series(name)).median).toLocaleString("en-US");
    const perRequest = (name: string) => {
      const { calls, requests } = commands[name] ?? { calls: new Map(), requests: 1 };
      return [...calls]
        .sort((a, b) => b[1] - a[1])
        .map(([command, n]) => `${command} ${(n / requests).toFixed(2)}`)
        .join(", ");
    };
    const cpu = (name: string) => summarize(cpuPerRequest[name] ?? []).median.toFixed(1);
    const cpuRatio = (other: string) =>
      fmt(
        (cpuPerRequest[other] ?? []).map((v, i) => v / (cpuPerRequest.keyguard?.[i] ?? Number.NaN)),
      );
    const cpuLines =
      (cpuPerRequest.keyguard?.length ?? 0) === 0
        ? []
        : [
            `  server CPU per request (/proc, user + system): KeyGuard ${cpu("keyguard")} µs, @fastify/rate-limit ${cpu("peer")}, RateLimiterRedis ${cpu("flexible")}`,
            `    @fastify/rate-limit / KeyGuard: ${cpuRatio("peer")}; RateLimiterRedis / KeyGuard: ${cpuRatio("flexible")}`,
          ];
    const keyguardCalls = commands.keyguard ?? { calls: new Map(), requests: 1 };
    const evalshaPerRequest =
      ((keyguardCalls.calls.get("evalsha") ?? 0) + (keyguardCalls.calls.get("eval") ?? 0)) /
      keyguardCalls.requests;
    lines.push(
      `fastify on Redis: KeyGuard ${rps("keyguard")} req/s, @fastify/rate-limit (Redis store) ${rps("peer")}, RateLimiterRedis ${rps("flexible")}`,
      `  KeyGuard / @fastify/rate-limit:     ${fmt(ratio("keyguard", "peer"))}  goal >= 1.1`,
      `  KeyGuard / RateLimiterRedis:        ${fmt(ratio("keyguard", "flexible"))}  goal >= 1.1`,
      `  req/s in each round: ${contenders
        .map(
          (c) =>
            `${c.name} ${series(c.name)
              .map((v) => Math.round(v / 100) / 10)
              .join(" ")}k`,
        )
        .join("; ")}`,
      ...cpuLines,
      `  KeyGuard script calls per allowed request: ${evalshaPerRequest.toFixed(3)}  goal at most 1 (one round trip per decision; requests of a key arriving together share one)`,
      `  commands per request, INFO commandstats (includes commands run inside scripts):`,
      `    KeyGuard:             ${perRequest("keyguard")}`,
      `    @fastify/rate-limit:  ${perRequest("peer")}`,
      `    RateLimiterRedis:     ${perRequest("flexible")}`,
      `  key over its limit: ${refused.total.toLocaleString("en-US")} requests (${refused.non2xx.toLocaleString("en-US")} refused with 429) made ${refusedScripts} script calls: those in flight (100 connections) before the first refusal came back, then none`,
      ...(problems.length > 0 ? [`  unexpected responses: ${problems.join("; ")}`] : []),
    );
  } finally {
    for (const child of children) child.kill();
    stats.disconnect();
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}
