import { type ChildProcess, execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort, PortTakenError, spawnRedisServer } from "./redis-test-server.js";

const exec = promisify(execFile);

/** A three-master Redis Cluster of a test's own (no replicas, nothing on disk but its config). */
export interface OwnRedisCluster {
  readonly nodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Starts three `redis-server --cluster-enabled yes` and joins them with `redis-cli --cluster create`. */
export async function startOwnRedisCluster(): Promise<OwnRedisCluster> {
  const directory = mkdtempSync(join(tmpdir(), "keyguard-redis-cluster-"));
  const children: ChildProcess[] = [];
  const nodes: { host: string; port: number }[] = [];
  const stop = async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }
    }
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      // Another test run may take a probed port first: then try another (see spawnRedisServer).
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const args = [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(directory, `nodes-${port}.conf`),
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          directory,
        ];
        const child = await spawnRedisServer(port, args).catch((error: unknown) => {
          if (attempt < 5 && error instanceof PortTakenError) return undefined;
          throw error;
        });
        if (child === undefined) continue;
        children.push(child);
        nodes.push({ host: "127.0.0.1", port });
        break;
      }
    }
    await exec("redis-cli", [
      "--cluster",
      "create",
      ...nodes.map((node) => `${node.host}:${node.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await waitForClusterOk(nodes);
    return { nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Every node agrees the cluster is up (slots assigned and gossiped). */
async function waitForClusterOk(nodes: readonly { port: number }[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (const node of nodes) {
    const redis = new Redis({ port: node.port });
    try {
      for (;;) {
        const info = String(await redis.call("CLUSTER", "INFO"));
        if (info.includes("cluster_state:ok")) break;
        if (Date.now() > deadline) throw new Error(`cluster not ready: ${info}`);
        await sleep(100);
      }
    } finally {
      redis.disconnect();
    }
  }
}
