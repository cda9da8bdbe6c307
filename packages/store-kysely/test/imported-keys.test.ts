import { createHash, randomUUID } from "node:crypto";
import { KeyGuard, resolveConfig, type Store } from "@keyguard/core";
import { generateRawKey } from "@keyguard/core/internal";
import {
  eventually,
  FakeClock,
  keyguardPythonHash,
  keyguardPythonRawKey,
  kyselyTestDatabases,
  postgresAvailable,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { createKyselyStore, type KyselyStore } from "../src/index.js";

/** A key's id, spending its own monthly quota (not made by rotating another key). */
const ownQuota = (id: string) => ({ id, quotaId: id, replacedBy: null });

const SECRET = "keyguard-node-secret";
const LEGACY_SECRET = "the-old-python-secret";
const databases = kyselyTestDatabases(createKyselyStore);
const postgres = await postgresAvailable();

/** The real store, with every call to it counted: the test sees what reaches the database. */
function counted(store: Store): { store: Store; calls: Map<string, number>; total(): number } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function" || typeof name !== "string") return value;
      return (...args: unknown[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store: proxy,
    calls,
    total: () => [...calls.values()].reduce((sum, n) => sum + n, 0),
  };
}

for (const [name, open] of [
  ["SQLite", databases.sqlite],
  ["PostgreSQL", databases.postgres],
] as const) {
  describe.runIf(name === "SQLite" || postgres)(`imported keys on ${name}`, () => {
    let dispose: (() => Promise<void>) | undefined;
    const kgs: KeyGuard[] = [];
    afterEach(async () => {
      for (const kg of kgs.splice(0)) await kg.close();
      await dispose?.();
    });

    async function setup(config: { legacySecret?: string } = {}) {
      const db = await open();
      dispose = db.dispose;
      const store = db.store as KyselyStore;
      await store.migrate();
      const orgId = randomUUID();
      await store.insertOrganization({
        id: orgId,
        name: "Acme Corp",
        status: "active",
        createdAt: new Date(),
      });
      const legacyRaw = keyguardPythonRawKey();
      const revokedRaw = keyguardPythonRawKey();
      const unkeyRaw = `uk_${randomUUID()}`;
      const betterAuthRaw = `ba_${randomUUID().replaceAll("-", "")}`;
      const base = {
        orgId,
        scopes: ["read"],
        rateLimitPerMinute: 7,
        monthlyLimit: null,
        createdAt: new Date(),
        expiresAt: null,
        lastUsedAt: null,
      };
      const insert = (
        raw: string,
        keyHash: string,
        hashScheme: "keyguard-python" | "sha256-hex" | "sha256-base64url",
        isActive = true,
      ) =>
        store.insertApiKey({
          ...base,
          ...ownQuota(randomUUID()),
          label: raw.slice(0, 5),
          prefix: raw.slice(0, 12),
          keyHash,
          hashScheme,
          isActive,
        });
      await insert(legacyRaw, keyguardPythonHash(legacyRaw, LEGACY_SECRET), "keyguard-python");
      await insert(
        revokedRaw,
        keyguardPythonHash(revokedRaw, LEGACY_SECRET),
        "keyguard-python",
        false,
      );
      await insert(unkeyRaw, createHash("sha256").update(unkeyRaw).digest("hex"), "sha256-hex");
      await insert(
        betterAuthRaw,
        createHash("sha256").update(betterAuthRaw).digest("base64url"),
        "sha256-base64url",
      );
      const clock = new FakeClock();
      const make = (legacySecret = config.legacySecret) => {
        const watched = counted(store);
        const kg = new KeyGuard({
          config: resolveConfig(
            { secretKey: SECRET, ...(legacySecret ? { legacySecret } : {}) },
            {},
          ),
          store: watched.store,
          clock,
        });
        kgs.push(kg);
        return { kg, watched };
      };
      return { store, make, clock, legacyRaw, revokedRaw, unkeyRaw, betterAuthRaw };
    }

    it("accepts a keyguard-python key by its legacy hash and re-stores it under the HMAC on first use", async () => {
      const { make, legacyRaw, revokedRaw, store } = await setup({ legacySecret: LEGACY_SECRET });
      const { kg } = make();
      expect((await kg.stats()).legacyHashKeys).toBe(3); // the revoked legacy key does not count
      const first = await kg.verifyKey(legacyRaw);
      expect(first).toMatchObject({
        outcome: "valid",
        key: { rateLimitPerMinute: 7, scopes: ["read"] },
      });
      expect(await kg.verifyKey(revokedRaw)).toMatchObject({
        outcome: "revoked",
        code: "revoked_api_key",
      });
      const stats = await kg.stats();
      expect(stats.legacyHashKeys).toBe(2);
      const rows = await store.db
        .selectFrom("api_keys")
        .select(["key_hash", "key_hash_scheme", "label"])
        .execute();
      const upgraded = rows.find((row) => row.label === legacyRaw.slice(0, 5));
      expect(upgraded?.key_hash_scheme).toBe("imported-hmac-sha256");
      expect(upgraded?.key_hash).not.toBe(keyguardPythonHash(legacyRaw, LEGACY_SECRET));

      // Another process (a fresh KeyGuard), and later without the legacy secret: the
      // upgraded key is found by its HMAC.
      const { kg: retired, watched } = make(undefined);
      expect(await retired.verifyKey(legacyRaw)).toMatchObject({ outcome: "valid" });
      expect(watched.calls.get("findApiKeysByHashes")).toBe(1);
      expect(await retired.verifyKey(legacyRaw)).toMatchObject({ outcome: "valid" });
      expect(watched.calls.get("findApiKeysByHashes")).toBe(1); // cached
    });

    it("refuses unknown legacy-format keys with one query per distinct key, then none", async () => {
      const { make } = await setup({ legacySecret: LEGACY_SECRET });
      const { kg, watched } = make();
      const unknown = keyguardPythonRawKey();
      for (let i = 0; i < 50; i++) {
        expect(await kg.verifyKey(unknown)).toMatchObject({
          outcome: "unknown",
          code: "invalid_api_key",
        });
      }
      expect(watched.calls.get("findApiKeysByHashes")).toBe(1);
      expect(watched.calls.get("countKeysByHashScheme")).toBe(1);
      // Junk that no imported key can be (too short, spaces, control characters): no query.
      const before = watched.total();
      for (const junk of [
        "kg_live_short",
        "x".repeat(300),
        "has space in it, sixteen+",
        "kg_live_\u0000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      ]) {
        expect(await kg.verifyKey(junk)).toMatchObject({ outcome: "malformed" });
      }
      expect(watched.total()).toBe(before);
    });

    it("without the legacy secret, keyguard-python keys are refused as malformed and never looked up by their old hash", async () => {
      const { make, legacyRaw } = await setup();
      const { kg, watched } = make(undefined);
      // The plain-SHA-256 imports exist, so a foreign-format key is looked up by its HMAC and
      // SHA-256, never by the keyguard-python hash: it is unknown.
      expect(await kg.verifyKey(legacyRaw)).toMatchObject({ outcome: "unknown" });
      expect(watched.calls.get("findApiKeysByHashes")).toBe(1);
    });

    it("keyguard-python keys alone and no legacy secret: refused as malformed, with no key query", async () => {
      const db = await open();
      dispose = db.dispose;
      const store = db.store as KyselyStore;
      await store.migrate();
      const orgId = randomUUID();
      await store.insertOrganization({
        id: orgId,
        name: "Acme Corp",
        status: "active",
        createdAt: new Date(),
      });
      const raw = keyguardPythonRawKey();
      await store.insertApiKey({
        ...ownQuota(randomUUID()),
        orgId,
        label: "py",
        prefix: raw.slice(0, 12),
        keyHash: keyguardPythonHash(raw, LEGACY_SECRET),
        hashScheme: "keyguard-python",
        isActive: true,
        scopes: [],
        rateLimitPerMinute: 5,
        monthlyLimit: null,
        createdAt: new Date(),
        expiresAt: null,
        lastUsedAt: null,
      });
      const watched = counted(store);
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET }, {}),
        store: watched.store,
        clock: new FakeClock(),
      });
      kgs.push(kg);
      for (let i = 0; i < 10; i++)
        expect(await kg.verifyKey(raw)).toMatchObject({ outcome: "malformed" });
      expect(Object.fromEntries(watched.calls)).toEqual({ countKeysByHashScheme: 1 });
    });

    it("a key imported while the process runs is accepted once the census is refreshed (cache.ttlMs)", async () => {
      const db = await open();
      dispose = db.dispose;
      const store = db.store as KyselyStore;
      await store.migrate();
      const clock = new FakeClock();
      const kg = new KeyGuard({ config: resolveConfig({ secretKey: SECRET }, {}), store, clock });
      kgs.push(kg);
      const raw = `uk_${randomUUID()}`;
      expect(await kg.verifyKey(raw)).toMatchObject({ outcome: "malformed" });
      const orgId = randomUUID();
      await store.insertOrganization({
        id: orgId,
        name: "Later",
        status: "active",
        createdAt: new Date(),
      });
      await store.insertApiKey({
        ...ownQuota(randomUUID()),
        orgId,
        label: "later",
        prefix: raw.slice(0, 12),
        keyHash: createHash("sha256").update(raw).digest("hex"),
        hashScheme: "sha256-hex",
        isActive: true,
        scopes: [],
        rateLimitPerMinute: 5,
        monthlyLimit: null,
        createdAt: new Date(),
        expiresAt: null,
        lastUsedAt: null,
      });
      // Within the TTL the old census answers, without a query.
      clock.advance(29_000);
      expect(await kg.verifyKey(raw)).toMatchObject({ outcome: "malformed" });
      clock.advance(1_000);
      await kg.verifyKey(raw); // stale: answered as before, the census re-read in the background
      await eventually(
        async () => expect(await kg.verifyKey(raw)).toMatchObject({ outcome: "valid" }),
        5_000,
      );
    });

    it("init() reads which hash schemes exist, so the first foreign-format key waits on nothing", async () => {
      const db = await open();
      dispose = db.dispose;
      const watched = counted(db.store);
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET }, {}),
        store: watched.store,
        clock: new FakeClock(),
      });
      kgs.push(kg);
      await kg.init();
      // init() also checks the secret's fingerprint (its own calls); no key is looked up.
      const afterInit = Object.fromEntries(watched.calls);
      expect(afterInit).toMatchObject({ migrate: 1 });
      expect(afterInit.countKeysByHashScheme).toBeGreaterThan(0);
      expect(Object.keys(afterInit).filter((name) => /^find/.test(name))).toEqual([]);
      expect(await kg.verifyKey(keyguardPythonRawKey())).toMatchObject({ outcome: "malformed" });
      expect(Object.fromEntries(watched.calls)).toEqual(afterInit);
    });

    it("a database without imported keys refuses foreign-format keys without looking them up", async () => {
      const db = await open();
      dispose = db.dispose;
      await db.store.migrate();
      const watched = counted(db.store);
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET, legacySecret: LEGACY_SECRET }, {}),
        store: watched.store,
        clock: new FakeClock(),
      });
      kgs.push(kg);
      for (let i = 0; i < 20; i++) {
        expect(await kg.verifyKey(keyguardPythonRawKey())).toMatchObject({ outcome: "malformed" });
      }
      // One count of keys per hash scheme, for all of them; no key look-up.
      expect(Object.fromEntries(watched.calls)).toEqual({ countKeysByHashScheme: 1 });
      // KeyGuard's own keys are untouched by all this.
      expect(generateRawKey().rawKey).toHaveLength(57);
    });

    it("accepts keys imported as plain SHA-256 (hex and base64url) without any legacy secret, upgrading them", async () => {
      const { make, unkeyRaw, betterAuthRaw, store } = await setup();
      const { kg } = make(undefined);
      expect(await kg.verifyKey(unkeyRaw)).toMatchObject({ outcome: "valid" });
      expect(await kg.verifyKey(betterAuthRaw)).toMatchObject({ outcome: "valid" });
      const schemes = await store.db.selectFrom("api_keys").select("key_hash_scheme").execute();
      expect(schemes.map((row) => row.key_hash_scheme).sort()).toEqual([
        "imported-hmac-sha256",
        "imported-hmac-sha256",
        "keyguard-python",
        "keyguard-python",
      ]);
      // A key that differs in one character is not accepted.
      expect(await kg.verifyKey(`${unkeyRaw.slice(0, -1)}x`)).toMatchObject({ outcome: "unknown" });
    });

    it("two processes upgrading the same key at once agree", async () => {
      const { make, legacyRaw, store } = await setup({ legacySecret: LEGACY_SECRET });
      const a = make().kg;
      const b = make().kg;
      const [ra, rb] = await Promise.all([a.verifyKey(legacyRaw), b.verifyKey(legacyRaw)]);
      expect(ra.outcome).toBe("valid");
      expect(rb.outcome).toBe("valid");
      const schemes = await store.db
        .selectFrom("api_keys")
        .select("key_hash_scheme")
        .where("key_hash_scheme", "=", "imported-hmac-sha256")
        .execute();
      expect(schemes).toHaveLength(1);
    });

    it("a key revoked after its upgrade is refused (the revocation reaches the HMAC entry)", async () => {
      const { make, legacyRaw } = await setup({ legacySecret: LEGACY_SECRET });
      const { kg } = make();
      const valid = await kg.verifyKey(legacyRaw);
      if (valid.outcome !== "valid") throw new Error("expected valid");
      await kg.revokeApiKey(valid.key.id);
      expect(await kg.verifyKey(legacyRaw)).toMatchObject({ outcome: "revoked" });
    });

    it("an upgraded key keeps working through a secret rotation, re-stored under the new secret", async () => {
      const { make, legacyRaw, unkeyRaw, store, clock } = await setup({
        legacySecret: LEGACY_SECRET,
      });
      const { kg } = make();
      for (const raw of [legacyRaw, unkeyRaw]) {
        expect(await kg.verifyKey(raw)).toMatchObject({ outcome: "valid" });
      }
      const withSecrets = (secretKey: string, previousSecretKeys: string[] = []) => {
        const rotated = new KeyGuard({
          config: resolveConfig({ secretKey, previousSecretKeys }, {}),
          store,
          clock,
        });
        kgs.push(rotated);
        return rotated;
      };
      const NEW_SECRET = "keyguard-node-secret-rotated";
      // Without the retired secret the key cannot be found; with it, it is, and moves over.
      expect(await withSecrets(NEW_SECRET).verifyKey(legacyRaw)).toMatchObject({
        outcome: "unknown",
      });
      const during = withSecrets(NEW_SECRET, [SECRET]);
      for (const raw of [legacyRaw, unkeyRaw]) {
        expect(await during.verifyKey(raw), raw).toMatchObject({ outcome: "valid" });
      }
      // Re-stored under the new secret: it no longer needs the old one.
      const after = withSecrets(NEW_SECRET);
      for (const raw of [legacyRaw, unkeyRaw]) {
        expect(await after.verifyKey(raw), raw).toMatchObject({ outcome: "valid" });
      }
      // A revocation after the move reaches the entry it is cached under.
      const moved = await after.verifyKey(legacyRaw);
      if (moved.outcome !== "valid") throw new Error("expected valid");
      await after.revokeApiKey(moved.key.id);
      expect(await after.verifyKey(legacyRaw)).toMatchObject({ outcome: "revoked" });
    });
  });
}

describe("a keyguard-python database opened as KeyGuard's", () => {
  it("is refused instead of being migrated in place, and left as it was", async () => {
    const { createKeyguardPythonSqlite, keyguardPythonContents } = await import(
      "@keyguard/testkit"
    );
    const python = createKeyguardPythonSqlite(keyguardPythonContents({ secret: LEGACY_SECRET }));
    try {
      const store = await createKyselyStore({ url: python.url });
      await expect(store.migrate()).rejects.toMatchObject({
        code: "invalid_config",
        message: expect.stringMatching(
          /api_keys table that KeyGuard did not create.*keyguard import-python/,
        ),
      });
      expect(await store.hasSchema()).toBe(false);
      await store.close();
    } finally {
      await python.dispose();
    }
  });
});

describe("KEYGUARD_TABLES", () => {
  it("lists every table the migrations create, so copy-db copies each of them", async () => {
    const { KEYGUARD_TABLES, migratedTableNames } = await import("../src/index.js");
    expect(KEYGUARD_TABLES.map((table) => table.name).sort()).toEqual(await migratedTableNames());
  });
});

describe.runIf(postgres)("imported keys while PostgreSQL is unreachable", () => {
  it("an undecidable foreign-format key is 503 (as an uncached key is), not a 401 that counts toward a block", async () => {
    const { startTcpProxy, TEST_POSTGRES_URL, uniqueSchemaName, dropSchema } = await import(
      "@keyguard/testkit"
    );
    const schema = uniqueSchemaName("outage");
    const direct = await createKyselyStore({ url: TEST_POSTGRES_URL, schema });
    const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
    // The server's store reaches PostgreSQL through the proxy, cut before its first query
    // (so no pooled connection is open when the cut happens).
    await proxy.cut();
    const url = new URL(TEST_POSTGRES_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    const store = await createKyselyStore({ url: url.toString(), schema });
    try {
      await direct.migrate();
      const orgId = randomUUID();
      await direct.insertOrganization({
        id: orgId,
        name: "Acme Corp",
        status: "active",
        createdAt: new Date(),
      });
      const raw = `uk_${randomUUID()}`;
      await direct.insertApiKey({
        ...ownQuota(randomUUID()),
        orgId,
        label: "u",
        prefix: raw.slice(0, 12),
        keyHash: createHash("sha256").update(raw).digest("hex"),
        hashScheme: "sha256-hex",
        isActive: true,
        scopes: [],
        rateLimitPerMinute: 5,
        monthlyLimit: null,
        createdAt: new Date(),
        expiresAt: null,
        lastUsedAt: null,
      });
      const clock = new FakeClock();
      const kg = new KeyGuard({ config: resolveConfig({ secretKey: SECRET }, {}), store, clock });
      await expect(kg.verifyKey(raw)).rejects.toMatchObject({ code: "database_unavailable" });
      // Not asked again at once: the same answer, without waiting on the database.
      await expect(kg.verifyKey(raw)).rejects.toMatchObject({ code: "database_unavailable" });
      await proxy.restore();
      // Back, but within the retry interval the remembered answer stands (no query).
      await expect(kg.verifyKey(raw)).rejects.toMatchObject({ code: "database_unavailable" });
      // After cache.negativeTtlMs (the retry interval) it asks again. The store's own
      // fail-fast pause after an outage runs on real time (about a second), so each try
      // moves the clock past the retry interval again.
      await eventually(
        async () => {
          clock.advance(5_000);
          expect(await kg.verifyKey(raw)).toMatchObject({ outcome: "valid" });
        },
        10_000,
        100,
      );
    } finally {
      await store.close();
      await direct.close();
      await proxy.close();
      await dropSchema(schema);
    }
  });
});
