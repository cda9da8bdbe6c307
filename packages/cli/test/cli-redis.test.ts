import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard } from "@keyguard/core";
import {
  deleteRedisKeys,
  eventually,
  redisAvailable,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-redis-test-secret";
/**
 * A change the CLI announces reaches a running server asynchronously (Redis pub/sub; the
 * example app measures that bound at p99). Here one change is awaited for at most this long:
 * far below what the server would otherwise keep (a key cached 30 s, a block for its hour),
 * so only the notice can explain it, and far above a busy machine's scheduling delays.
 */
const NOTICE_WAIT_MS = 5_000;
const available = await redisAvailable();

describe.runIf(available)("keyguard CLI with Redis (KEYGUARD_REDIS_URL / --redis)", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function runningServer(): Promise<{
    kg: KeyGuard;
    cwd: string;
    env: Record<string, string>;
  }> {
    const cwd = mkdtempSync(join(tmpdir(), "keyguard-cli-redis-"));
    const prefix = uniqueRedisPrefix("cli");
    const env = {
      KEYGUARD_SECRET_KEY: SECRET,
      KEYGUARD_REDIS_URL: TEST_REDIS_URL,
      KEYGUARD_REDIS_PREFIX: prefix,
    };
    // The "server": a KeyGuard on the same database and Redis, as a running app has.
    const kg = await createKeyGuard({ databaseUrl: `sqlite:${join(cwd, "keyguard.db")}` }, { env });
    await kg.syncBlocks();
    cleanups.push(async () => {
      await kg.close();
      await deleteRedisKeys(prefix);
      rmSync(cwd, { recursive: true, force: true });
    });
    return { kg, cwd, env };
  }

  it("revokes a key that a running server has cached, and the server refuses it soon after (its notice)", async () => {
    const { kg, cwd, env } = await runningServer();
    await kg.createOrganization("Acme");
    const { rawKey, key } = await kg.createApiKey({ organization: "Acme", label: "prod" });
    expect((await kg.verifyKey(rawKey)).outcome).toBe("valid"); // now cached for 30 s
    const revoked = await keyguard(["revoke-key", key.id], { cwd, env });
    expect(revoked.code, revoked.stderr).toBe(0);
    await eventually(
      async () => expect((await kg.verifyKey(rawKey)).outcome).toBe("revoked"),
      NOTICE_WAIT_MS,
    );
  });

  it("shows what is left of a key's limits as the servers count them (Redis), and without Redis the month from the store", async () => {
    const { kg, cwd, env } = await runningServer();
    await kg.createOrganization("Acme");
    await kg.setOrganizationLimits("Acme", [{ name: "day", limit: 500, windowSeconds: 86_400 }]);
    const { rawKey, key } = await kg.createApiKey({
      organization: "Acme",
      label: "live",
      rateLimitPerMinute: 10,
      monthlyLimit: 100,
    });
    // Four requests the "server" let through (decided in Redis), their usage written.
    const guard = kg.guard();
    for (let i = 0; i < 4; i++) {
      const result = await guard.check({
        method: "GET",
        path: "/api/data",
        remoteAddress: "203.0.113.7",
        header: (name) => (name === "x-api-key" ? rawKey : undefined),
      });
      expect(result.allowed).toBe(true);
      guard.complete(result, 200);
    }
    await kg.flushUsage();
    const leftOf = async (extra: Record<string, string>) => {
      const shown = await keyguard(["show-key", key.prefix, "--json"], {
        cwd,
        env: { ...env, ...extra },
      });
      expect(shown.code, shown.stderr).toBe(0);
      return Object.fromEntries(
        (JSON.parse(shown.stdout).policies as { name: string; remaining: number | null }[]).map(
          (policy) => [policy.name, policy.remaining],
        ),
      );
    };
    expect(await leftOf({})).toEqual({ minute: 6, "org.day": 496, month: 96 });
    // Without Redis the CLI has no count of the windows: they are unknown, not full.
    expect(await leftOf({ KEYGUARD_REDIS_URL: "" })).toEqual({
      minute: null,
      "org.day": null,
      month: 96,
    });
    const table = await keyguard(["show-key", key.prefix], {
      cwd,
      env: { ...env, KEYGUARD_REDIS_URL: "" },
    });
    expect(table.stdout).toMatch(/^month +key +100 +calendar month +96 /m);
    expect(table.stdout).toMatch(/^minute +key +10 +per 1m +- +- *$/m);
    expect(table.stdout).toContain("with their Redis (--redis)");
  });

  it("blocks an IP in Redis, where every server sees it, and unblocks it", async () => {
    const { kg, cwd, env } = await runningServer();
    const blocked = await keyguard(["block-ip", "198.51.100.23", "--duration", "1h"], { cwd, env });
    expect(blocked.code, blocked.stderr).toBe(0);
    // Read from Redis (and now also kept by this server's limiter, so that only the unblock's
    // notice can lift it below).
    await eventually(async () => {
      const found = await kg.limiter.findBlock("198.51.100.23", "/api/data", Date.now());
      expect(found).toMatchObject({ scope: "global", reason: "manual" });
    }, NOTICE_WAIT_MS);
    const list = await keyguard(["list-blocks", "--json"], { cwd, env });
    expect(JSON.parse(list.stdout).items).toHaveLength(1);
    const unblocked = await keyguard(["unblock-ip", "198.51.100.23"], { cwd, env });
    expect(unblocked.code, unblocked.stderr).toBe(0);
    await eventually(async () => {
      expect(await kg.limiter.findBlock("198.51.100.23", "/api/data", Date.now())).toBeUndefined();
    }, NOTICE_WAIT_MS);
  });

  it("refuses to change anything when Redis does not answer", async () => {
    const { kg, cwd, env } = await runningServer();
    await kg.createOrganization("Acme");
    const { key } = await kg.createApiKey({ organization: "Acme", label: "prod" });
    // Port 1: nothing listens there, and no other test (or test run beside this one) can
    // start a server on it in the meantime, as it could on a port found free a moment ago.
    const deadRedis = "redis://127.0.0.1:1";
    const result = await keyguard(["revoke-key", key.id, "--redis", deadRedis], { cwd, env });
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ is not answering/);
    expect((await kg.getApiKey(key.id)).isActive).toBe(true);
    // Commands that only use the database do not need Redis.
    const listed = await keyguard(["list-keys", "--json", "--redis", deadRedis], { cwd, env });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).items).toHaveLength(1);
  });
});
