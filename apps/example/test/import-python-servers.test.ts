import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createKeyguardPythonPostgres,
  createKeyguardPythonSqlite,
  dropSchema,
  type KeyguardPythonContents,
  type KeyguardPythonDatabase,
  type KeyguardPythonKey,
  type KeyguardPythonOrganization,
  keyguardPythonContents,
  keyguardPythonRawKey,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";
import { runKeyguardCli } from "./keyguard-cli-process.js";

const LEGACY_SECRET = "keyguard-python-SECRET_KEY";
const pg = await postgresAvailable();

/**
 * A team moving from keyguard-python: its database imported with `keyguard import-python`,
 * then the three example servers (one process each) pointed at the result with the old
 * SECRET_KEY as KEYGUARD_LEGACY_SECRET. The keys their clients already hold keep working.
 */
describe.each([
  { source: "SQLite", target: "SQLite" },
  ...(pg ? [{ source: "PostgreSQL", target: "PostgreSQL" }] : []),
])(
  "keyguard-python ($source) imported into $target, served by Express, Fastify and Koa",
  ({ source, target }) => {
    const contents = withLifecycles(
      keyguardPythonContents({
        secret: LEGACY_SECRET,
        organizations: 3,
        keysPerOrganization: 3,
        usageLogsPerKey: 4,
        revokeEvery: 3,
      }),
    );
    const suspendedOrg = contents.organizations[2] as KeyguardPythonOrganization;
    const now = Date.now();
    const usable = (key: KeyguardPythonKey) =>
      key.isActive &&
      key.orgId !== suspendedOrg.id &&
      (key.expiresAt === null || key.expiresAt.getTime() > now);
    const active = contents.keys.filter(usable);
    const revoked = contents.keys.filter((key) => !key.isActive);
    const expired = contents.keys.find(
      (key) => key.isActive && key.expiresAt !== null && key.expiresAt.getTime() <= now,
    ) as KeyguardPythonKey;
    const expiring = contents.keys.find(
      (key) => usable(key) && key.expiresAt !== null,
    ) as KeyguardPythonKey;
    const ofSuspended = contents.keys.filter(
      (key) => key.isActive && key.orgId === suspendedOrg.id,
    );
    const cwd = mkdtempSync(join(tmpdir(), "keyguard-import-python-"));
    const schema = uniqueSchemaName("imported");
    const databaseUrl =
      target === "SQLite"
        ? `sqlite:${join(cwd, "keyguard-node.db")}`
        : `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`;
    const env = { KEYGUARD_DATABASE_URL: databaseUrl, KEYGUARD_SECRET_KEY: EXAMPLE_SECRET };
    let python: KeyguardPythonDatabase;
    let servers: ExampleProcess[] = [];

    const cli = (args: string[], extra: Record<string, string> = {}) =>
      runKeyguardCli(args, { ...env, ...extra }, cwd);
    const legacyHashes = async () => {
      const result = await cli(["stats", "--json"]);
      expect(result.stderr).toBe("");
      return JSON.parse(result.stdout).legacy_hash_keys as number;
    };
    const get = (server: ExampleProcess, rawKey: string, path = "/api/profile") =>
      fetch(`${server.url}${path}`, { headers: { "x-api-key": rawKey } });

    beforeAll(async () => {
      python =
        source === "SQLite"
          ? createKeyguardPythonSqlite(contents)
          : await createKeyguardPythonPostgres(contents);
      if (target === "PostgreSQL")
        await withPostgresClient((client) => client.query(`create schema ${schema}`));
      const imported = await cli(["import-python", "--from", python.url], {
        KEYGUARD_LEGACY_SECRET: LEGACY_SECRET,
      });
      expect(imported.stderr).toBe("");
      expect(imported.code).toBe(0);
      // The summary says what servers will answer: usable, revoked, expired, suspended.
      const hasExpired = (key: KeyguardPythonKey) =>
        key.expiresAt !== null && key.expiresAt.getTime() <= now;
      const expiredCount = contents.keys.filter((k) => k.isActive && hasExpired(k)).length;
      const suspendedCount = ofSuspended.filter((k) => !hasExpired(k)).length;
      expect(imported.stdout).toContain(
        `(${active.length} active, ${revoked.length} revoked, ${expiredCount} expired, ${suspendedCount} in suspended organizations)`,
      );
      servers = await Promise.all(
        ["express", "fastify", "koa"].map((framework) =>
          startExampleProcess(framework, { ...env, KEYGUARD_LEGACY_SECRET: LEGACY_SECRET }),
        ),
      );
    });

    afterAll(async () => {
      for (const server of servers) server.child.kill("SIGTERM");
      await Promise.all(servers.map((server) => server.exited));
      await python?.dispose();
      if (target === "PostgreSQL") await dropSchema(schema);
      rmSync(cwd, { recursive: true, force: true });
    });

    it("accepts the old raw keys on every framework, refuses the revoked ones, and upgrades each hash on first use", async () => {
      // Every unrevoked key waits for its upgrade, whether or not it can be used now.
      expect(await legacyHashes()).toBe(active.length + ofSuspended.length + 1);
      for (const [i, key] of active.entries()) {
        const response = await get(servers[i % 3] as ExampleProcess, key.rawKey);
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({
          org_id: key.orgId,
          key_label: key.label,
          scopes: key.scopes,
        });
        expect(response.headers.get("x-ratelimit-limit")).toBe(String(key.rateLimitPerMinute));
        // Every other framework accepts it too, now from KeyGuard's own hash.
        for (const server of servers) expect((await get(server, key.rawKey)).status).toBe(200);
        expect(await legacyHashes()).toBe(active.length + ofSuspended.length - i);
      }
      for (const key of revoked) {
        for (const server of servers) {
          const response = await get(server, key.rawKey);
          expect(response.status).toBe(401);
          expect(((await response.json()) as { code: string }).code).toBe("revoked_api_key");
        }
      }
      // A key of keyguard-python's format that was never issued is "not a valid key".
      const stranger = await get(servers[0] as ExampleProcess, keyguardPythonRawKey());
      expect(stranger.status).toBe(401);
      expect(((await stranger.json()) as { code: string }).code).toBe("invalid_api_key");
    });

    it("refuses the keys of a suspended organization and expired keys as keyguard-python did, and keeps each expiry", async () => {
      for (const server of servers) {
        for (const key of ofSuspended) {
          const response = await get(server, key.rawKey);
          expect(response.status).toBe(403);
          expect(((await response.json()) as { code: string }).code).toBe("organization_suspended");
        }
        const response = await get(server, expired.rawKey);
        expect(response.status).toBe(401);
        expect(((await response.json()) as { code: string }).code).toBe("expired_api_key");
        expect((await get(server, expiring.rawKey)).status).toBe(200);
      }
      const listed = await cli(["list-keys", "--json"]);
      expect(listed.stderr).toBe("");
      const items = JSON.parse(listed.stdout).items as Record<string, unknown>[];
      const byId = (id: string) => items.find((item) => item.id === id);
      expect(byId(expired.id)).toMatchObject({
        status: "expired",
        expires_at: expired.expiresAt?.toISOString(),
      });
      expect(byId(expiring.id)).toMatchObject({
        status: "active",
        expires_at: expiring.expiresAt?.toISOString(),
      });
      const orgs = JSON.parse((await cli(["list-orgs", "--json"])).stdout).items as {
        id: string;
        status: string;
      }[];
      expect(orgs.find((org) => org.id === suspendedOrg.id)?.status).toBe("suspended");
      // A refused key was still recognised by its old hash, so it is re-stored under
      // KeyGuard's own like the accepted ones: no key is left waiting for the legacy secret.
      expect(await legacyHashes()).toBe(0);
    });

    it("keeps each key's rate limit", async () => {
      const key = [...active].sort(
        (a, b) => a.rateLimitPerMinute - b.rateLimitPerMinute,
      )[0] as KeyguardPythonKey;
      const server = servers[1] as ExampleProcess;
      const statuses: number[] = [];
      // The previous test used this key on this server 1 or 2 times (its own limit per process).
      for (let i = 0; i < key.rateLimitPerMinute + 2; i++)
        statuses.push((await get(server, key.rawKey, "/api/data")).status);
      expect(statuses.at(-1)).toBe(429);
      const used = statuses.filter((status) => status === 200).length;
      expect(used).toBeLessThan(key.rateLimitPerMinute);
      expect(used).toBeGreaterThanOrEqual(key.rateLimitPerMinute - 2);
    });

    it("once every hash is upgraded, a server without the legacy secret accepts the same keys", async () => {
      expect(await legacyHashes()).toBe(0);
      const retired = await startExampleProcess("express", env);
      try {
        for (const key of active) expect((await get(retired, key.rawKey)).status).toBe(200);
        expect((await get(retired, (revoked[0] as KeyguardPythonKey).rawKey)).status).toBe(401);
        // Refused for the same reasons as before, now by KeyGuard's own hash.
        expect((await get(retired, expired.rawKey)).status).toBe(401);
        expect((await get(retired, (ofSuspended[0] as KeyguardPythonKey).rawKey)).status).toBe(403);
        expect((await get(retired, expiring.rawKey)).status).toBe(200);
      } finally {
        retired.child.kill("SIGTERM");
        await retired.exited;
      }
    });
  },
);

/**
 * keyguard-python's contents with what its users have besides active keys: the last
 * organization suspended (its keys were refused there), one key expired yesterday and one
 * that expires in 30 days (both in the first organization).
 */
function withLifecycles(contents: KeyguardPythonContents): KeyguardPythonContents {
  const now = Date.now();
  const organizations = contents.organizations.map((org, i, all) =>
    i === all.length - 1 ? { ...org, status: "suspended" as const } : org,
  );
  const firstOrg = organizations[0]?.id;
  const [expires, expiring] = contents.keys.filter((key) => key.orgId === firstOrg && key.isActive);
  const keys = contents.keys.map((key) =>
    key === expires
      ? { ...key, expiresAt: new Date(now - 86_400_000) }
      : key === expiring
        ? { ...key, expiresAt: new Date(Math.floor(now / 1000) * 1000 + 30 * 86_400_000) }
        : key,
  );
  return { ...contents, organizations, keys };
}
