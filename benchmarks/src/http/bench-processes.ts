/** Starting benchmark servers and load generators as pinned processes. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

export function load(
  url: string,
  seconds: number,
  mode: string,
  key: string,
  pin: boolean,
): LoadResult {
  const [file, args] = command(
    0,
    "load-generator.ts",
    [`${url}/api/data`, String(seconds), mode, key],
    pin,
  );
  return JSON.parse(
    execFileSync(file, args, { encoding: "utf8", maxBuffer: 1 << 20 }),
  ) as LoadResult;
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
