import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

interface ProbeResult {
  contender: string;
  /** Bytes once built, before any client (capacity preallocated). */
  empty: number;
  samples: { clients: number; bytes: number }[];
}

/** One contender in a fresh process, so nothing measured before is still on its heap. */
function probe(contender: string, clients: number): ProbeResult {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", join(here, "memory-probe.ts"), contender, String(clients)],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  return JSON.parse(out) as ProbeResult;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Memory per tracked client: one million distinct clients, one request each, counted by a
 * per-IP limit (100 a minute, sliding-window log) in KeyGuard's `MemoryLimiter` and in
 * rate-limiter-flexible's `RateLimiterMemory`, each in its own process; heap + external
 * bytes after a full collection, less the same before. Then the limiter at its default
 * size (`maxEntries` 100,000) under twice as many clients, to show the heap stays bounded,
 * and one key with a limit nothing reaches taking 50 requests per millisecond, to show
 * its log grows with its window, not with its requests or limit.
 */
export function runMemoryBenchmarks(options: { clients?: number } = {}): string[] {
  const clients = options.clients ?? 1_000_000;
  const last = (r: ProbeResult) => r.samples[r.samples.length - 1]?.bytes ?? Number.NaN;
  const keyguard = probe("keyguard", clients);
  const flexible = probe("flexible", clients);
  const perClient = (r: ProbeResult) => last(r) / clients;
  const bounded = probe("keyguard-bounded", 2 * clients);
  const hot = probe("keyguard-hot-key", 3 * clients);
  const ratio = perClient(keyguard) / perClient(flexible);
  const added = (r: ProbeResult) => ((last(r) - r.empty) / clients).toFixed(0);
  return [
    `${clients.toLocaleString("en-US")} distinct clients, one request each (per-IP limit, 100 a minute):`,
    `  KeyGuard MemoryLimiter (maxEntries ${clients.toLocaleString("en-US")}): ${perClient(keyguard).toFixed(0)} bytes per client (${mb(last(keyguard))}, of which ${mb(keyguard.empty)} allocated empty: ${added(keyguard)} bytes per client added; by quarter: ${keyguard.samples.map((s) => mb(s.bytes)).join(", ")})`,
    `  rate-limiter-flexible RateLimiterMemory: ${perClient(flexible).toFixed(0)} bytes per client (${mb(last(flexible))}, ${added(flexible)} added per client; by quarter: ${flexible.samples.map((s) => mb(s.bytes)).join(", ")})`,
    `  KeyGuard / RateLimiterMemory: ${ratio.toFixed(2)}  goal <= 0.5`,
    `MemoryLimiter at its default size under ${(2 * clients).toLocaleString("en-US")} distinct clients: ${bounded.samples.map((s) => `${s.clients.toLocaleString("en-US")} -> ${mb(s.bytes)}`).join(", ")} (bounded: the least recently used are evicted)`,
    `One key, limit 10^8 a minute, 50 requests per millisecond (sliding-window log): ${hot.samples.map((s) => `${s.clients.toLocaleString("en-US")} requests -> ${mb(s.bytes - hot.empty)}`).join(", ")} more than the empty limiter (one run per millisecond of the window)`,
  ];
}
