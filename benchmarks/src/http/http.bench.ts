import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { summarize } from "../side-by-side.js";
import {
  fmt,
  hasTaskset,
  load,
  loadWithCpu,
  lookups,
  prepareBenchDatabase,
  startServer,
} from "./bench-processes.js";

const ALL_FRAMEWORKS = ["fastify", "express", "koa"] as const;
/** `BENCH_FRAMEWORKS=koa,fastify` runs only those. */
const FRAMEWORKS = ALL_FRAMEWORKS.filter(
  (name) => process.env.BENCH_FRAMEWORKS?.split(",").includes(name) ?? true,
);
const PEERS = {
  fastify: "@fastify/rate-limit",
  express: "express-rate-limit",
  koa: "koa-ratelimit",
} as const;
/** Saturated throughput with KeyGuard, as a share of the bare framework's. */
const THROUGHPUT_GOAL = 0.85;
/** Contenders measured again at a fixed offered load, for server CPU per request. */
const CPU_CONTENDERS = ["bare", "keyguard", "peer"] as const;

/**
 * HTTP throughput side by side: for each framework, the bare route, KeyGuard with a valid
 * key (warm cache, in-memory limits, usage logged to SQLite), KeyGuard under a flood of
 * random invalid keys, the bare route with only KeyGuard's five rate-limit headers, the
 * framework's own rate limiter, and rate-limiter-flexible in a hook. autocannon (100 connections) runs on core 0, the server on core 1; one warm-up
 * round, then rounds in rotating order; ratios per round. Then bare, KeyGuard and the
 * framework's limiter again at one fixed offered load (half the slowest one's saturated
 * rate), each server's CPU per request read from /proc: the steadier figure, as it does not
 * depend on how server and load generator happen to share the two cores.
 */
export async function runHttpBenchmarks(
  options: { seconds?: number; rounds?: number } = {},
): Promise<string[]> {
  const seconds = options.seconds ?? 3;
  const rounds = options.rounds ?? 4;
  const pin = hasTaskset();
  const {
    dir,
    databaseFile,
    rawKeys: [rawKey = ""],
  } = await prepareBenchDatabase([{ rateLimitPerMinute: 1_000_000_000 }]);

  const lines = [
    `(${seconds} s per measurement, ${rounds} rounds, ${pin ? "server on core 1, load on core 0" : "no taskset: unpinned"})`,
  ];
  const children: ChildProcess[] = [];
  try {
    for (const framework of FRAMEWORKS) {
      const servers = {
        bare: await startServer(framework, "bare", databaseFile, pin, children),
        keyguard: await startServer(framework, "keyguard", databaseFile, pin, children),
        headers: await startServer(framework, "headers", databaseFile, pin, children),
        peer: await startServer(framework, "peer", databaseFile, pin, children),
        flexible: await startServer(framework, "flexible", databaseFile, pin, children),
      };
      const contenders = [
        { name: "bare", url: servers.bare.url, mode: "valid" },
        { name: "keyguard", url: servers.keyguard.url, mode: "valid" },
        { name: "invalid", url: servers.keyguard.url, mode: "invalid" },
        { name: "headers", url: servers.headers.url, mode: "none" },
        { name: "peer", url: servers.peer.url, mode: "none" },
        { name: "flexible", url: servers.flexible.url, mode: "none" },
      ];
      for (const c of contenders) load(c.url, 2, c.mode, rawKey, pin); // warm-up, not recorded
      const results: Record<string, number[]> = Object.fromEntries(
        contenders.map((c) => [c.name, []]),
      );
      const problems: string[] = [];
      let floodRequests = 0;
      let floodLookups = 0;
      for (let round = 0; round < rounds; round++) {
        // Rotate the order each round so no contender always runs first (or last).
        const shift = round % contenders.length;
        const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
        for (const c of order) {
          const before = c.name === "invalid" ? await lookups(c.url) : 0;
          const result = load(c.url, seconds, c.mode, rawKey, pin);
          results[c.name]?.push(result.requestsPerSecond);
          const expectedNon2xx = c.name === "invalid" ? result.total : 0;
          if (result.errors > 0 || Math.abs(result.non2xx - expectedNon2xx) > 0) {
            problems.push(
              `${c.name}: ${result.non2xx} non-2xx, ${result.errors} errors of ${result.total}`,
            );
          }
          if (c.name === "invalid") {
            floodRequests += result.total;
            floodLookups += (await lookups(c.url)) - before;
          }
        }
      }
      const series = (name: string) => results[name] ?? [];
      const ratio = (a: string, b: string) =>
        series(a).map((v, i) => v / (series(b)[i] ?? Number.NaN));
      const rps = (name: string) =>
        Math.round(summarize(series(name)).median).toLocaleString("en-US");
      // Server CPU per request at one offered load every contender keeps up with.
      const slowest = Math.min(...CPU_CONTENDERS.map((name) => summarize(series(name)).median));
      const rate = Math.max(500, Math.round(slowest / 2 / 500) * 500);
      const byName = Object.fromEntries(contenders.map((c) => [c.name, c]));
      const serverOf = { bare: servers.bare, keyguard: servers.keyguard, peer: servers.peer };
      const cpu: Record<string, number[]> = { bare: [], keyguard: [], peer: [] };
      for (let round = 0; round < rounds; round++) {
        const shift = round % CPU_CONTENDERS.length;
        for (const name of [...CPU_CONTENDERS.slice(shift), ...CPU_CONTENDERS.slice(0, shift)]) {
          const c = byName[name] as (typeof contenders)[number];
          const { result, cpuMicros } = loadWithCpu(
            serverOf[name].child,
            c.url,
            seconds,
            c.mode,
            rawKey,
            pin,
            rate,
          );
          if (cpuMicros !== undefined) cpu[name]?.push(cpuMicros);
          if (result.errors > 0 || result.non2xx > 0) {
            problems.push(
              `${name} at ${rate} req/s: ${result.non2xx} non-2xx, ${result.errors} errors`,
            );
          }
        }
      }
      const micros = (name: string) => {
        const s = summarize(cpu[name] ?? []);
        return `${s.median.toFixed(1)} µs (${s.min.toFixed(1)}-${s.max.toFixed(1)})`;
      };
      const cpuRatio = (a: string, b: string) =>
        (cpu[a] ?? []).map((v, i) => v / (cpu[b]?.[i] ?? Number.NaN));
      const cpuLines =
        (cpu.keyguard?.length ?? 0) === 0
          ? []
          : [
              `  server CPU per request at ${rate.toLocaleString("en-US")} req/s (/proc, user + system): bare ${micros("bare")}, KeyGuard ${micros("keyguard")}, ${PEERS[framework]} ${micros("peer")}`,
              `    KeyGuard / ${PEERS[framework]}: ${fmt(cpuRatio("keyguard", "peer"))}  goal <= 1.0`,
              `    KeyGuard / bare:${" ".repeat(Math.max(1, PEERS[framework].length - 2))}${fmt(cpuRatio("keyguard", "bare"))}`,
            ];
      lines.push(
        `${framework}: bare ${rps("bare")} req/s, KeyGuard ${rps("keyguard")}, invalid-key flood ${rps("invalid")}, ${PEERS[framework]} ${rps("peer")}, rate-limiter-flexible ${rps("flexible")}`,
        `  KeyGuard / bare ${framework}:           ${fmt(ratio("keyguard", "bare"))}  goal >= ${THROUGHPUT_GOAL}`,
        `  invalid flood / valid key:          ${fmt(ratio("invalid", "keyguard"))}  goal >= 0.95; ${floodLookups} store look-ups for ${floodRequests.toLocaleString("en-US")} bad keys`,
        `  five rate-limit headers alone / bare: ${fmt(ratio("headers", "bare"))}  (what the goal's budget must first pay for)`,
        `  KeyGuard / five headers alone:      ${fmt(ratio("keyguard", "headers"))}`,
        `  ${PEERS[framework]} alone / bare:${" ".repeat(Math.max(1, 19 - PEERS[framework].length))}${fmt(ratio("peer", "bare"))}`,
        `  rate-limiter-flexible alone / bare: ${fmt(ratio("flexible", "bare"))}`,
        `  KeyGuard / ${PEERS[framework]} alone:${" ".repeat(Math.max(1, 18 - PEERS[framework].length))}${fmt(ratio("keyguard", "peer"))}`,
        `  KeyGuard / rate-limiter-flexible:   ${fmt(ratio("keyguard", "flexible"))}`,
        ...cpuLines,
        ...(problems.length > 0 ? [`  unexpected responses: ${problems.join("; ")}`] : []),
      );
      for (const server of Object.values(servers)) server.child.kill();
    }
  } finally {
    for (const child of children) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}
