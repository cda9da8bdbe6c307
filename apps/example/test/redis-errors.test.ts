import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import { redisAvailable, startOwnRedisServer } from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const FLOOD = 1_500;
const CONCURRENCY = 30;

describe.runIf(await redisAvailable())("Redis refuses commands (out of memory)", () => {
  it("answers 503 to a flood, and logs it in a few lines that count every one", async () => {
    // A Redis of the test's own, made to refuse writes: 2 MB of data, then a 1 MB limit
    // without eviction (filled past it, not up to it: memory moves as clients come and go).
    const redis = await startOwnRedisServer();
    cleanups.push(() => redis.stop());
    await redis.command("CONFIG", "SET", "maxmemory-policy", "noeviction");
    const filler = "x".repeat(64 * 1024);
    for (let i = 0; i < 32; i++) await redis.command("SET", `filler:${i}`, filler);
    await redis.command("CONFIG", "SET", "maxmemory", "1mb");
    await expect(redis.command("SET", "one-more", "x")).rejects.toThrow(/^OOM/);

    const directory = mkdtempSync(join(tmpdir(), "keyguard-redis-oom-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
    const admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
    await admin.createOrganization("Acme Corp");
    const { rawKey } = await admin.createApiKey({ organization: "Acme Corp", label: "k" });
    await admin.close();

    const server = await startExampleProcess("express", {
      KEYGUARD_DATABASE_URL: databaseUrl,
      KEYGUARD_REDIS_URL: redis.url,
    });
    cleanups.push(() => {
      if (server.child.exitCode === null) server.child.kill("SIGKILL");
    });
    const statuses = new Map<number, number>();
    let sent = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (sent < FLOOD) {
          sent++;
          const response = await fetch(`${server.url}/api/data`, {
            headers: { "x-api-key": rawKey },
          });
          const body = (await response.json()) as { code?: string; detail?: string };
          if (response.status === 503) expect(body.code).toBe("service_unavailable");
          expect(JSON.stringify(body)).not.toMatch(/OOM|maxmemory|redis/i); // nothing leaks
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 503: FLOOD });

    // The log so far: the first failure at once, with Redis's reason.
    const log = () =>
      server
        .stderr()
        .split("\n")
        .filter((line) => line.includes("KeyGuard:"));
    expect(log()).toHaveLength(1);
    expect(log()[0]).toMatch(
      /A protected request was answered 503: OOM command not allowed when used memory/,
    );
    // On shutdown, the count of the rest in one summary line: every 503 is accounted for.
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const lines = log();
    console.log(`${FLOOD} refused requests logged in ${lines.length} lines:\n${lines.join("\n")}`);
    expect(lines).toHaveLength(2);
    const summary = /KeyGuard: (\d+) more errors of kind (\S+) /.exec(lines[1] ?? "");
    expect(summary?.[2]).toBe("service_unavailable/redis:OOM");
    expect(Number(summary?.[1])).toBe(FLOOD - 1);
  });
});
