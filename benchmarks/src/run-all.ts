import { cpus } from "node:os";
import { runHttpBenchmarks } from "./http/http.bench.js";
import { runRedisBenchmarks } from "./http/redis.bench.js";
import { runMemoryBenchmarks } from "./memory/memory.bench.js";
import { compareWithBuild } from "./policies/against-build.js";
import { runPolicyBenchmarks } from "./policies.bench.js";
import { runStorageBenchmarks } from "./storage.bench.js";
import { runUsageDiskBenchmarks } from "./usage-disk.bench.js";

const only = process.argv[2];
/** `BENCH_ROUNDS` / `BENCH_SECONDS` override the HTTP groups' rounds and seconds per round. */
const httpOptions = {
  ...(process.env.BENCH_ROUNDS && { rounds: Number(process.env.BENCH_ROUNDS) }),
  ...(process.env.BENCH_SECONDS && { seconds: Number(process.env.BENCH_SECONDS) }),
};
console.log(
  `KeyGuard benchmarks — Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${new Date().toISOString()}\n`,
);
if (!only || only === "storage") {
  console.log("== Storage and verification ==");
  for (const line of await runStorageBenchmarks()) console.log(`${line}\n`);
}
if (!only || only === "policies") {
  console.log("== Limit policies in process ==");
  for (const line of await runPolicyBenchmarks()) console.log(`${line}\n`);
  // `BENCH_BASELINE_BUILD=<checkout>`: the one-policy path against a build of another revision.
  const baseline = process.env.BENCH_BASELINE_BUILD;
  if (baseline) for (const line of compareWithBuild(baseline)) console.log(`${line}\n`);
}
if (!only || only === "memory") {
  console.log("== Limiter memory ==");
  const clients = process.env.BENCH_MEMORY_CLIENTS;
  for (const line of runMemoryBenchmarks(clients ? { clients: Number(clients) } : {})) {
    console.log(line);
  }
  console.log("");
}
if (!only || only === "disk") {
  console.log("== Usage on disk ==");
  for (const line of await runUsageDiskBenchmarks()) console.log(line);
  console.log("");
}
if (!only || only === "http") {
  console.log("== HTTP (autocannon) ==");
  for (const line of await runHttpBenchmarks(httpOptions)) console.log(line);
}
if (!only || only === "redis") {
  console.log("\n== HTTP on Redis (autocannon) ==");
  for (const line of await runRedisBenchmarks(httpOptions)) console.log(line);
}
