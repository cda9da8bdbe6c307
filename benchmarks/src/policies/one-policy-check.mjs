// Child process of `against-build.ts`: CPU time of one `RequestGuard.check` for a cached key
// with one policy (`minute`), through the built packages of the checkout given as argv[2].
// Plain JavaScript on purpose: it must load a build of another revision, whose API for this
// path (createApiKey with `rateLimitPerMinute`, `guard().check(request)`) is the same.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = process.argv[2];
const algorithm = process.argv[3] ?? "sliding-window-log";
const CHECKS = 200_000;
const ROUNDS = 5;

const load = (pkg) => import(join(root, "packages", pkg, "dist", "index.js"));
const core = await load("core");
const { MemoryLimiter } = await load("limiter-memory");
const { createKyselyStore } = await load("store-kysely");
const dir = mkdtempSync(join(tmpdir(), "keyguard-bench-build-"));
const store = await createKyselyStore({ url: `sqlite:${join(dir, "bench.db")}` });
const kg = new core.KeyGuard({
  config: core.resolveConfig({ secretKey: "benchmark-secret-0123456789" }, {}),
  store,
  limiter: new MemoryLimiter(),
});
await kg.init();
await kg.createOrganization("Bench Org");
const { rawKey } = await kg.createApiKey({
  organization: "Bench Org",
  label: "one",
  rateLimitPerMinute: 1_000_000_000,
  monthlyLimit: null,
});
const guard = kg.guard({ algorithm });
const headers = { "x-api-key": rawKey };
const request = {
  method: "GET",
  path: "/api/data",
  remoteAddress: "203.0.113.7",
  header: (name) => headers[name],
};
const first = await guard.check(request);
if (!first.allowed) throw new Error(`benchmark key refused: ${first.problem.code}`);
for (let i = 0; i < CHECKS; i++) await guard.check(request);
// This process's own CPU time (user + system), not wall time: what other processes on a
// shared machine take does not count. The best round is the one least disturbed.
let best = Number.POSITIVE_INFINITY;
for (let round = 0; round < ROUNDS; round++) {
  const start = process.cpuUsage();
  for (let i = 0; i < CHECKS; i++) await guard.check(request);
  const used = process.cpuUsage(start);
  best = Math.min(best, ((used.user + used.system) * 1000) / CHECKS);
}
await kg.close();
rmSync(dir, { recursive: true, force: true });
console.log(best.toFixed(1));
