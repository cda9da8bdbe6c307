/** Starting benchmark servers and load generators as pinned processes. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { createKyselyStore } from "@keyguard/store-kysely";
import { summarize } from "../side-by-side.js";

const here = fileURLToPath(new URL(".", import.meta.url));

export interface LoadResult {
  requestsPerSecond: number;
  non2xx: number;
  errors: number;
  total: number;
}

export function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["-c", "0", "true"]);
    return true;
  } catch {
    return false;
  }
}

/** `node --import tsx script args`, pinned to `core` when taskset works. */
export function command(
  core: number,
  script: string,
  args: string[],
  pin: boolean,
): [string, string[]] {
  const node = [process.execPath, "--import", "tsx", join(here, script), ...args];
  return pin ? ["taskset", ["-c", String(core), ...node]] : [node[0] as string, node.slice(1)];
}

export async function startServer(
  framework: string,
  variant: string,
  databaseFile: string,
  pin: boolean,
  children: ChildProcess[],
) {
  const [file, args] = command(1, "bench-server.ts", [framework, variant, databaseFile], pin);
  const child = spawn(file, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child); // killed in the caller's finally, even if a later server fails
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      const match = /READY (\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) =>
      reject(new Error(`${framework}/${variant} server exited (${code})`)),
    );
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Linux's clock ticks per second for /proc's CPU times (USER_HZ, 100 on every common build). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat, or
 * undefined where there is no /proc. A server's CPU per request is steadier than its
 * requests/s on a shared VM: it does not move with how the load generator and redis-server
 * happen to be scheduled, only with the work each request costs.
 */
export function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** autocannon against `url`'s `/api/data`: as fast as it answers, or at a fixed `rate` (req/s). */
export function load(
  url: string,
  seconds: number,
  mode: string,
  key: string,
  pin: boolean,
  rate?: number,
): LoadResult {
  const [file, args] = command(
    0,
    "load-generator.ts",
    [`${url}/api/data`, String(seconds), mode, key, ...(rate === undefined ? [] : [String(rate)])],
    pin,
  );
  return JSON.parse(
    execFileSync(file, args, { encoding: "utf8", maxBuffer: 1 << 20 }),
  ) as LoadResult;
}

/**
 * Server CPU µs per request (user + system, from /proc) under one load run, with the run's
 * result; `undefined` CPU where there is no /proc.
 */
export function loadWithCpu(
  child: ChildProcess,
  url: string,
  seconds: number,
  mode: string,
  key: string,
  pin: boolean,
  rate?: number,
): { result: LoadResult; cpuMicros: number | undefined } {
  const before = cpuSecondsOf(child.pid);
  const result = load(url, seconds, mode, key, pin, rate);
  const after = cpuSecondsOf(child.pid);
  const cpuMicros =
    before === undefined || after === undefined || result.total === 0
      ? undefined
      : (1e6 * (after - before)) / result.total;
  return { result, cpuMicros };
}

export async function lookups(url: string): Promise<number> {
  // A fresh connection each time: a pooled one may have been closed by the server meanwhile.
  const response = await fetch(`${url}/__bench/lookups`, { headers: { connection: "close" } });
  return ((await response.json()) as { lookups: number }).lookups;
}

export const fmt = (values: number[]) => {
  const s = summarize(values);
  return `median ${s.median.toFixed(3)} (min ${s.min.toFixed(3)}, max ${s.max.toFixed(3)})`;
};

/** The secret bench-server.ts hashes keys with. */
export const BENCH_SECRET = "http-benchmark-secret-0123";

/**
 * A SQLite database in a new temporary directory with one organization and these keys;
 * returns the directory, the file and the raw keys (in order), for the load generator.
 */
export async function prepareBenchDatabase(
  keys: readonly { rateLimitPerMinute: number; monthlyLimit?: number }[],
): Promise<{ dir: string; databaseFile: string; rawKeys: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "keyguard-http-bench-"));
  const databaseFile = join(dir, "bench.db");
  const admin = new KeyGuard({
    config: resolveConfig({ secretKey: BENCH_SECRET }, {}),
    store: await createKyselyStore({ url: `sqlite:${databaseFile}` }),
  });
  await admin.init();
  await admin.createOrganization("Bench");
  const rawKeys: string[] = [];
  for (const [i, settings] of keys.entries()) {
    const { rawKey } = await admin.createApiKey({
      organization: "Bench",
      label: `bench-${i}`,
      ...settings,
    });
    rawKeys.push(rawKey);
  }
  await admin.close();
  return { dir, databaseFile, rawKeys };
}
