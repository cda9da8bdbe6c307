/**
 * One memory measurement in a fresh process (run with `--expose-gc`):
 * `memory-probe.ts <contender> <clients>`, printing JSON. Contenders: `keyguard` (a
 * `MemoryLimiter` sized for every client: `hit()` per client, the per-IP limit's sliding-window
 * log, as `rateLimitByIp` counts), `keyguard-bounded` (the same at the default
 * `maxEntries`), `flexible` (rate-limiter-flexible's `RateLimiterMemory`), `keyguard-hot-key`
 * (one key with a limit nothing reaches, `clients` requests 50 per millisecond through
 * `decide`: what its log holds).
 */
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { RateLimiterMemory } from "rate-limiter-flexible";

const [contender, clientsArg] = process.argv.slice(2) as [string, string];
const clients = Number(clientsArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

/** Heap plus memory outside it (typed arrays' buffers), after a full collection. */
function used(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** The n-th client's bucket, as a per-IP limit names it: rule, then the IPv4 address. */
const bucketOf = (n: number) => `ip:login:10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

const now = Date.now();
const samples: { clients: number; bytes: number }[] = [];
let keep: unknown;
const before = used();
/** Bytes of the contender once built, before any client (preallocated capacity). */
let empty = 0;
if (contender === "keyguard" || contender === "keyguard-bounded") {
  const limiter = new MemoryLimiter(contender === "keyguard" ? { maxEntries: clients } : {});
  keep = limiter;
  empty = used() - before;
  for (let n = 0; n < clients; n++) {
    await limiter.hit(bucketOf(n), now + (n >> 10), 100, 60_000, "sliding-window-log");
    if ((n + 1) % (clients / 4) === 0) samples.push({ clients: n + 1, bytes: used() - before });
  }
} else if (contender === "flexible") {
  const limiter = new RateLimiterMemory({ points: 100, duration: 60 });
  keep = limiter;
  empty = used() - before;
  for (let n = 0; n < clients; n++) {
    await limiter.consume(bucketOf(n));
    if ((n + 1) % (clients / 4) === 0) samples.push({ clients: n + 1, bytes: used() - before });
  }
} else if (contender === "keyguard-hot-key") {
  const limiter = new MemoryLimiter();
  keep = limiter;
  const policies = [
    {
      name: "minute",
      limit: 1e8,
      windowMs: 60_000,
      algorithm: "sliding-window-log",
      mode: "enforce",
      scope: "key",
    },
  ] as const;
  const key = { id: "hot", quotaId: "hot", orgId: "org" };
  empty = used() - before;
  for (let n = 0; n < clients; n++) {
    const decision = await limiter.decide({
      now: now + Math.floor(n / 50),
      client: "203.0.113.7",
      path: "/api/data",
      key,
      policies,
    });
    if (!decision.allowed) throw new Error("refused");
    if ((n + 1) % (clients / 4) === 0) samples.push({ clients: n + 1, bytes: used() - before });
  }
} else throw new Error(`unknown contender ${contender}`);
process.stdout.write(
  `${JSON.stringify({ contender, empty, samples, kept: keep !== undefined })}\n`,
);
