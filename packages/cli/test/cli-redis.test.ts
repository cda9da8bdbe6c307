import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard } from "@keyguard/core";
import {
  deleteRedisKeys,
  eventually,
  freePort,
  redisAvailable,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-redis-test-secret";
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

  it("revokes a key that a running server has cached, and the server refuses it at once", async () => {
    const { kg, cwd, env } = await runningServer();
    await kg.createOrganization("Acme");
    const { rawKey, key } = await kg.createApiKey({ organization: "Acme", label: "prod" });
    expect((await kg.verifyKey(rawKey)).outcome).toBe("valid"); // now cached for 30 s
    const revoked = await keyguard(["revoke-key", key.id], { cwd, env });
    expect(revoked.code, revoked.stderr).toBe(0);
    await eventually(async () => expect((await kg.verifyKey(rawKey)).outcome).toBe("revoked"), 100);
  });

  it("blocks an IP in Redis, where every server sees it, and unblocks it", async () => {
    const { kg, cwd, env } = await runningServer();
    const blocked = await keyguard(["block-ip", "198.51.100.23", "--duration", "1h"], { cwd, env });
    expect(blocked.code, blocked.stderr).toBe(0);
    const found = await kg.limiter.findBlock("198.51.100.23", "/api/data", Date.now());
    expect(found).toMatchObject({ scope: "global", reason: "manual" });
    const list = await keyguard(["list-blocks", "--json"], { cwd, env });
    expect(JSON.parse(list.stdout).items).toHaveLength(1);
    const unblocked = await keyguard(["unblock-ip", "198.51.100.23"], { cwd, env });
    expect(unblocked.code, unblocked.stderr).toBe(0);
    await eventually(async () => {
      expect(await kg.limiter.findBlock("198.51.100.23", "/api/data", Date.now())).toBeUndefined();
    }, 100);
  });

  it("refuses to change anything when Redis does not answer", async () => {
    const { kg, cwd, env } = await runningServer();
    await kg.createOrganization("Acme");
    const { key } = await kg.createApiKey({ organization: "Acme", label: "prod" });
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
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
