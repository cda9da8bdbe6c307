import {
  createKeyHasher,
  generateRawKey,
  isKeyGuardError,
  KeyGuard,
  resolveConfig,
  type Store,
  type UsageEvent,
} from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "./fake-clock.js";
import { describeAuditConformance } from "./store-conformance-audit.js";
import { describeCreditStorage } from "./store-conformance-credits.js";
import { describeIpRuleStorage } from "./store-conformance-ip-rules.js";
import { describeStoreRaces } from "./store-conformance-races.js";
import { describeUsageConformance } from "./store-conformance-usage.js";

/**
 * One database for one test: stores opened from it share the data, like two processes
 * pointed at the same file or server.
 */
export interface TestDatabase {
  /** Opens a new store on this database (not yet migrated). */
  open(): Promise<Store>;
  /** Everything persisted, as text: file bytes or every row, to search for secrets. */
  dumpContents(): Promise<string>;
  /** Removes the database (file or schema). */
  dispose(): Promise<void>;
  /**
   * Stores opened in one process share one write lock and wait for it by blocking the
   * thread (SQLite): tests of concurrent writers then run them one after another.
   */
  readonly sharedWriteLock?: boolean;
}

const SECRET = "conformance-secret-0123456789";

/** Records how often each store method is called, without changing what it does. */
function countingStore(store: Store): { store: Store; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a KeyGuardError "${code}"`).toBeDefined();
  expect(isKeyGuardError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
  return error as Error & { code: string; details?: Record<string, unknown> };
}

/**
 * The behaviour every Store must have, exercised through the KeyGuard service the way an
 * application uses it. A backend's test file is a few lines:
 *
 * ```ts
 * describeStoreConformance("sqlite", async () => createSqliteTestDatabase());
 * ```
 */
export function describeStoreConformance(
  name: string,
  createDatabase: () => Promise<TestDatabase>,
): void {
  describe(`Store conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(
      options: { clock?: FakeClock; count?: boolean; cache?: { maxEntries?: number } } = {},
    ) {
      const database = await createDatabase();
      cleanups.push(() => database.dispose());
      const clock = options.clock ?? new FakeClock();
      const open = async () => {
        const raw = await database.open();
        const { store, calls } = countingStore(raw);
        const kg = new KeyGuard({
          config: resolveConfig(
            { secretKey: SECRET, usage: { batchSize: 1000 }, cache: options.cache ?? {} },
            {},
          ),
          store,
          clock,
        });
        cleanups.push(() => kg.close());
        await kg.init();
        return { kg, calls };
      };
      const first = await open();
      return { ...first, clock, database, openAnother: open };
    }

    describe("migrations", () => {
      it("are idempotent", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        await kg.init();
        await kg.init();
        expect((await kg.listOrganizations()).map((o) => o.name)).toEqual(["Acme Corp"]);
      });

      it("can run from two stores at once", async () => {
        const database = await createDatabase();
        cleanups.push(() => database.dispose());
        const stores = await Promise.all([database.open(), database.open(), database.open()]);
        cleanups.push(async () => {
          await Promise.all(stores.map((s) => s.close()));
        });
        await Promise.all(stores.map((s) => s.migrate()));
        expect(await stores[0]?.listOrganizations()).toEqual([]);
      });
    });

    describe("organizations", () => {
      it("are created, listed and found by name or id", async () => {
        const { kg } = await setup();
        const acme = await kg.createOrganization("Acme Corp");
        await kg.createOrganization("Dev Team");
        expect(acme).toMatchObject({ name: "Acme Corp", status: "active" });
        expect(acme.id).toMatch(/^[0-9a-f-]{36}$/);
        expect((await kg.listOrganizations()).map((o) => o.name)).toEqual([
          "Acme Corp",
          "Dev Team",
        ]);
        expect((await kg.getOrganization("Acme Corp")).id).toBe(acme.id);
        expect((await kg.getOrganization(acme.id)).name).toBe("Acme Corp");
      });

      it("refuses a duplicate name, even when two creations race", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        await expectCode(kg.createOrganization("Acme Corp"), "organization_exists", /Acme Corp/);
        const results = await Promise.allSettled([
          kg.createOrganization("Racing"),
          kg.createOrganization("Racing"),
        ]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        expect(rejected.reason.code).toBe("organization_exists");
        expect((await kg.listOrganizations()).map((o) => o.name)).toEqual(["Acme Corp", "Racing"]);
      });

      it("refuses empty, over-long and control-character names and writes nothing", async () => {
        const { kg } = await setup();
        await expectCode(kg.createOrganization(""), "invalid_input", /must not be empty/);
        await expectCode(kg.createOrganization("   "), "invalid_input", /must not be empty/);
        await expectCode(kg.createOrganization("x".repeat(300)), "invalid_input", /at most 200/);
        await expectCode(kg.createOrganization("bad\u0000name"), "invalid_input", /control/);
        await expectCode(kg.createOrganization("bad\nname"), "invalid_input", /control/);
        expect(await kg.listOrganizations()).toEqual([]);
      });

      it("stores SQL metacharacters and non-Latin text literally", async () => {
        const { kg, clock } = await setup();
        const names = [
          "Robert'); DROP TABLE organizations;--",
          `100% "quoted" _under_ \\back\\`,
          "Zürich Straße 東京",
        ];
        for (const name of names) {
          await kg.createOrganization(name);
          clock.advance(1); // listings are ordered by creation time
        }
        expect((await kg.listOrganizations()).map((o) => o.name)).toEqual(names);
        for (const name of names) expect((await kg.getOrganization(name)).name).toBe(name);
        await expectCode(kg.getOrganization("100%"), "organization_not_found");
      });

      it("suspends and reactivates", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        expect((await kg.suspendOrganization("Acme Corp")).status).toBe("suspended");
        expect((await kg.getOrganization("Acme Corp")).status).toBe("suspended");
        expect((await kg.reactivateOrganization("Acme Corp")).status).toBe("active");
        await expectCode(kg.suspendOrganization("Nobody"), "organization_not_found", /Nobody/);
      });
    });

    describe("keys", () => {
      it("are created with the raw key returned once, and listed masked", async () => {
        const { kg, database } = await setup();
        await kg.createOrganization("Acme Corp");
        const created = await kg.createApiKey({
          organization: "Acme Corp",
          label: "production",
          rateLimitPerMinute: 120,
          monthlyLimit: 1_000_000,
          scopes: ["read", "write", "read"],
        });
        expect(created.rawKey).toMatch(/^kg_live_[A-Za-z0-9_-]{43}[A-Za-z0-9]{6}$/);
        expect(created.key).toMatchObject({
          label: "production",
          prefix: created.rawKey.slice(0, 12),
          isActive: true,
          scopes: ["read", "write"],
          rateLimitPerMinute: 120,
          monthlyLimit: 1_000_000,
          organizationName: "Acme Corp",
          expiresAt: null,
          lastUsedAt: null,
        });
        expect(created.key).not.toHaveProperty("keyHash");

        const hash = createKeyHasher(SECRET)(created.rawKey);
        const listed = await kg.listApiKeys();
        expect(listed).toHaveLength(1);
        expect(listed[0]).not.toHaveProperty("keyHash");
        const text = JSON.stringify(listed);
        expect(text).not.toContain(created.rawKey);
        expect(text).not.toContain(hash);
        expect(listed[0]?.createdAt).toBeInstanceOf(Date);

        const dump = await database.dumpContents();
        expect(dump).toContain(hash); // the hash is what is stored...
        expect(dump).not.toContain(created.rawKey); // ...never the raw key
        expect(dump).not.toContain(created.rawKey.slice(12, 40));
      });

      it("uses the configured default rate limit and test-environment keys", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        const created = await kg.createApiKey({
          organization: "Acme Corp",
          label: "ci",
          environment: "test",
        });
        expect(created.rawKey.startsWith("kg_test_")).toBe(true);
        expect(created.key.rateLimitPerMinute).toBe(60);
      });

      it("filters listings by organization", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        await kg.createOrganization("Dev Team");
        await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        await kg.createApiKey({ organization: "Dev Team", label: "b" });
        expect((await kg.listApiKeys({ organization: "Dev Team" })).map((k) => k.label)).toEqual([
          "b",
        ]);
        await expectCode(kg.listApiKeys({ organization: "Nobody" }), "organization_not_found");
      });

      it("pages and filters listings in the database, keys and organizations alike", async () => {
        const { kg, clock } = await setup();
        for (const name of ["Acme Corp", "Dev Team", "Racing"]) await kg.createOrganization(name);
        await kg.suspendOrganization("Dev Team");
        const labels = ["k0", "k1", "k2", "k3", "k4", "k5", "k6"];
        for (const [i, label] of labels.entries()) {
          await kg.createApiKey({
            organization: "Acme Corp",
            label,
            ...(label === "k2" && { expiresAt: new Date(clock.now() + 1_000) }),
          });
          if (i % 3 === 0) clock.advance(1); // some share a creation time: ordered by id then
        }
        const all = await kg.listApiKeys();
        const idOf = (label: string) => all.find((key) => key.label === label)?.id as string;
        await kg.revokeApiKey(idOf("k1"));
        clock.advance(5_000); // k2 is now expired
        const order = all.map((key) => key.label); // creation time, then id
        expect([...order].sort()).toEqual(labels);

        // Page after page, each continuing after the last id read, gives the whole listing.
        const paged: string[] = [];
        let afterId: string | undefined;
        for (;;) {
          const page = await kg.listApiKeys({ limit: 3, ...(afterId && { afterId }) });
          paged.push(...page.map((key) => key.label));
          if (page.length < 3) break;
          afterId = page.at(-1)?.id;
        }
        expect(paged).toEqual(order);
        const labelsOf = async (filter: Parameters<typeof kg.listApiKeys>[0]) =>
          (await kg.listApiKeys(filter)).map((key) => key.label);
        expect(await labelsOf({ status: "revoked" })).toEqual(["k1"]);
        expect(await labelsOf({ status: "expired" })).toEqual(["k2"]);
        const active = order.filter((label) => label !== "k1" && label !== "k2");
        expect(await labelsOf({ status: "active" })).toEqual(active);
        expect(
          await labelsOf({ status: "active", afterId: idOf(active[1] as string), limit: 2 }),
        ).toEqual(active.slice(2, 4));
        expect(await labelsOf({ organization: "Racing" })).toEqual([]);
        await expectCode(kg.listApiKeys({ afterId: "nope" }), "invalid_input", /no such key/);

        const names = async (filter: Parameters<typeof kg.listOrganizations>[0]) =>
          (await kg.listOrganizations(filter)).map((organization) => organization.name);
        const acme = (await kg.getOrganization("Acme Corp")).id;
        expect(await names({ afterId: acme, limit: 1 })).toEqual(["Dev Team"]);
        expect(await names({ status: "active" })).toEqual(["Acme Corp", "Racing"]);
        expect(await names({ status: "suspended" })).toEqual(["Dev Team"]);
        await expectCode(kg.listOrganizations({ afterId: "nope" }), "invalid_input");
      });

      it("refuses bad input and writes nothing", async () => {
        const { kg, clock } = await setup();
        await kg.createOrganization("Acme Corp");
        const base = { organization: "Acme Corp", label: "k" };
        await expectCode(
          kg.createApiKey({ ...base, organization: "Nobody" }),
          "organization_not_found",
        );
        for (const rate of [0, -5, 1.5, Number.NaN]) {
          await expectCode(
            kg.createApiKey({ ...base, rateLimitPerMinute: rate }),
            "invalid_input",
            /rateLimitPerMinute/,
          );
        }
        await expectCode(
          kg.createApiKey({ ...base, monthlyLimit: 0 }),
          "invalid_input",
          /monthlyLimit/,
        );
        await expectCode(
          kg.createApiKey({ ...base, expiresAt: new Date(clock.now() - 1000) }),
          "invalid_input",
          /future/,
        );
        await expectCode(
          kg.createApiKey({ ...base, expiresAt: new Date("nope") }),
          "invalid_input",
          /expiresAt/,
        );
        await expectCode(kg.createApiKey({ ...base, label: "" }), "invalid_input", /label/);
        await expectCode(
          kg.createApiKey({ ...base, scopes: ["has space"] }),
          "invalid_input",
          /scope/,
        );
        expect(await kg.listApiKeys()).toEqual([]);
      });

      it("are found by id, display prefix or raw key; an ambiguous prefix lists candidates", async () => {
        const { kg } = await setup();
        const org = await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "alpha" });
        const b = await kg.createApiKey({ organization: "Acme Corp", label: "beta" });
        expect((await kg.getApiKey(a.key.id)).label).toBe("alpha");
        expect((await kg.getApiKey(b.key.prefix)).label).toBe("beta");
        expect((await kg.getApiKey(` ${b.key.prefix} `)).label).toBe("beta");
        expect((await kg.getApiKey(a.rawKey)).label).toBe("alpha");

        // Less than a display prefix names no key, however few keys there are: "k" or
        // "kg_live_" must never revoke "whichever key starts so".
        for (const short of ["k", "kg_", "kg_live_", a.key.prefix.slice(0, -1), "%", "0190"]) {
          await expectCode(kg.revokeApiKey(short), "invalid_input", /too short to name a key/);
        }
        expect((await kg.listApiKeys()).every((k) => k.isActive)).toBe(true);

        // Two keys sharing a display prefix (4 random characters can collide): never guessed.
        const twin = (label: string, keyHash: string, id = crypto.randomUUID()) =>
          kg.store.insertApiKey({
            id,
            orgId: org.id,
            label,
            prefix: "kg_live_TWIN",
            keyHash,
            isActive: true,
            scopes: [],
            rateLimitPerMinute: 60,
            monthlyLimit: null,
            createdAt: new Date(),
            expiresAt: null,
            lastUsedAt: null,
            quotaId: id,
            replacedBy: null,
          });
        await twin("gamma", "a".repeat(64));
        await twin("delta", "b".repeat(64));
        const error = await expectCode(
          kg.getApiKey("kg_live_TWIN"),
          "ambiguous_key_reference",
          /gamma.*delta|delta.*gamma/,
        );
        expect(error.details?.candidates).toHaveLength(2);
        await expectCode(kg.revokeApiKey("kg_live_TWIN"), "ambiguous_key_reference");
        expect((await kg.listApiKeys()).every((k) => k.isActive)).toBe(true);

        await expectCode(kg.getApiKey("kg_live_zzzz"), "api_key_not_found");
        await expectCode(kg.getApiKey(`${a.key.prefix}x`), "api_key_not_found");
        await expectCode(kg.getApiKey("x".repeat(10_240)), "api_key_not_found");
        await expectCode(kg.getApiKey(generateRawKey().rawKey), "api_key_not_found");
        await expectCode(kg.getApiKey(""), "invalid_input");
      });

      it("are updated and revoked", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "old" });
        const updated = await kg.updateApiKey(key.prefix, {
          label: "new",
          rateLimitPerMinute: 5,
          monthlyLimit: 100,
          scopes: ["admin"],
          expiresAt: new Date("2030-01-01T00:00:00Z"),
        });
        expect(updated).toMatchObject({
          label: "new",
          rateLimitPerMinute: 5,
          monthlyLimit: 100,
          scopes: ["admin"],
          expiresAt: new Date("2030-01-01T00:00:00Z"),
        });
        expect(
          (await kg.updateApiKey(key.id, { monthlyLimit: null, expiresAt: null })).monthlyLimit,
        ).toBeNull();
        await expectCode(kg.updateApiKey(key.id, { rateLimitPerMinute: -1 }), "invalid_input");
        expect((await kg.getApiKey(key.id)).rateLimitPerMinute).toBe(5);
        expect((await kg.revokeApiKey(key.id)).isActive).toBe(false);
        expect((await kg.getApiKey(key.id)).isActive).toBe(false);
        const again = await kg.revokeApiKeyOutcome(key.id);
        expect(again.alreadyRevoked).toBe(true);
        expect(again.key).toEqual(await kg.getApiKey(key.id));
      });
    });

    describe("limits", () => {
      it("keeps a key's and its organization's named windows, read back with the key", async () => {
        const { kg, openAnother } = await setup();
        await kg.createOrganization("Acme Corp");
        const created = await kg.createApiKey({
          organization: "Acme Corp",
          label: "two windows",
          limits: [
            { name: "burst", limit: 10, windowSeconds: 1 },
            {
              name: "day",
              limit: 10_000,
              windowSeconds: 86_400,
              algorithm: "gcra",
              mode: "shadow",
            },
          ],
        });
        expect(created.key.limits).toEqual([
          { name: "burst", limit: 10, windowSeconds: 1 },
          { name: "day", limit: 10_000, windowSeconds: 86_400, algorithm: "gcra", mode: "shadow" },
        ]);
        const org = await kg.setOrganizationLimits("Acme Corp", [
          { name: "minute", limit: 500, windowSeconds: 60 },
        ]);
        expect(org.limits).toEqual([{ name: "minute", limit: 500, windowSeconds: 60 }]);
        // Another process reads them from the database: the key and its organization's.
        const other = (await openAnother()).kg;
        const verified = await other.verifyKey(created.rawKey);
        expect(verified.outcome).toBe("valid");
        if (verified.outcome !== "valid") return;
        expect(verified.key.limits?.map((limit) => limit.name)).toEqual(["burst", "day"]);
        expect(verified.key.organizationLimits).toEqual([
          { name: "minute", limit: 500, windowSeconds: 60 },
        ]);
        const updated = await kg.updateApiKey(created.key.id, { limits: [] });
        expect(updated.limits).toBeUndefined();
        expect((await kg.getOrganization("Acme Corp")).limits).toEqual([
          { name: "minute", limit: 500, windowSeconds: 60 },
        ]);
      });

      it("refuses bad windows before writing anything", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        const bad = [
          [{ name: "Burst", limit: 1, windowSeconds: 1 }],
          [{ name: "minute", limit: 1, windowSeconds: 1 }],
          [{ name: "a", limit: 1, windowSeconds: 0 }],
          [{ name: "a", limit: 1, windowSeconds: 31 * 86_400 + 1 }],
          [{ name: "a", limit: 0, windowSeconds: 1 }],
          [
            { name: "a", limit: 1, windowSeconds: 1 },
            { name: "a", limit: 2, windowSeconds: 2 },
          ],
          Array.from({ length: 11 }, (_, i) => ({ name: `w${i}`, limit: 1, windowSeconds: 1 })),
        ];
        for (const limits of bad) {
          await expect(
            kg.createApiKey({ organization: "Acme Corp", label: "bad", limits }),
          ).rejects.toMatchObject({ code: "invalid_input" });
        }
        expect(await kg.listApiKeys()).toEqual([]);
      });
    });

    describe("rotation", () => {
      it("issues a new key with the same settings and revokes the old one at once", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        const old = await kg.createApiKey({
          organization: "Acme Corp",
          label: "prod",
          rateLimitPerMinute: 7,
          monthlyLimit: 500,
          scopes: ["read"],
          environment: "test",
        });
        expect((await kg.verifyKey(old.rawKey)).outcome).toBe("valid");
        const rotated = await kg.rotateApiKey(old.key.prefix);
        expect(rotated.rawKey).not.toBe(old.rawKey);
        expect(rotated.rawKey.startsWith("kg_test_")).toBe(true);
        expect(rotated.key).toMatchObject({
          label: "prod",
          rateLimitPerMinute: 7,
          monthlyLimit: 500,
          scopes: ["read"],
          orgId: old.key.orgId,
          organizationName: "Acme Corp",
          isActive: true,
        });
        expect(rotated.previous).toMatchObject({ id: old.key.id, isActive: false });
        expect((await kg.verifyKey(old.rawKey)).outcome).toBe("revoked");
        expect((await kg.verifyKey(rotated.rawKey)).outcome).toBe("valid");
        expect(rotated.previous.replacedBy).toBe(rotated.key.id);
        await expectCode(kg.rotateApiKey(old.key.id), "key_already_rotated", /already rotated/);
      });

      it("keeps the old key working through a grace period", async () => {
        const { kg, clock } = await setup();
        await kg.createOrganization("Acme Corp");
        const old = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
        const rotated = await kg.rotateApiKey(old.key.id, { gracePeriodMs: 3_600_000 });
        expect(rotated.previous.expiresAt).toEqual(new Date(clock.now() + 3_600_000));
        expect((await kg.verifyKey(old.rawKey)).outcome).toBe("valid");
        clock.advance(3_600_000);
        expect((await kg.verifyKey(old.rawKey)).outcome).toBe("expired");
        expect((await kg.verifyKey(rotated.rawKey)).outcome).toBe("valid");
        expect(await kg.listApiKeys()).toHaveLength(2);
      });
    });

    describeStoreRaces(() => setup());
    describeIpRuleStorage(() => setup());

    describe("verification", () => {
      it("tells every outcome apart", async () => {
        const { kg, clock } = await setup();
        await kg.createOrganization("Acme Corp");
        await kg.createOrganization("Suspended Inc");
        const valid = await kg.createApiKey({
          organization: "Acme Corp",
          label: "v",
          scopes: ["read"],
        });
        const revoked = await kg.createApiKey({ organization: "Acme Corp", label: "r" });
        const expiring = await kg.createApiKey({
          organization: "Acme Corp",
          label: "e",
          expiresAt: new Date(clock.now() + 60_000),
        });
        const suspended = await kg.createApiKey({ organization: "Suspended Inc", label: "s" });
        await kg.revokeApiKey(revoked.key.id);
        await kg.suspendOrganization("Suspended Inc");

        const ok = await kg.verifyKey(valid.rawKey);
        expect(ok.outcome).toBe("valid");
        if (ok.outcome === "valid") {
          expect(ok.key).toMatchObject({ id: valid.key.id, label: "v", scopes: ["read"] });
          expect(ok.key).not.toHaveProperty("keyHash");
        }
        expect(await kg.verifyKey(undefined)).toEqual({
          outcome: "missing",
          code: "missing_api_key",
        });
        expect(await kg.verifyKey("")).toEqual({ outcome: "missing", code: "missing_api_key" });
        expect((await kg.verifyKey("not-a-key")).outcome).toBe("malformed");
        expect((await kg.verifyKey(generateRawKey().rawKey)).outcome).toBe("unknown");
        expect(await kg.verifyKey(revoked.rawKey)).toEqual({
          outcome: "revoked",
          code: "revoked_api_key",
        });
        expect((await kg.verifyKey(expiring.rawKey)).outcome).toBe("valid");
        clock.advance(60_000);
        expect(await kg.verifyKey(expiring.rawKey)).toEqual({
          outcome: "expired",
          code: "expired_api_key",
        });
        expect((await kg.verifyKey(suspended.rawKey)).outcome).toBe("organization_suspended");
        await kg.reactivateOrganization("Suspended Inc");
        expect((await kg.verifyKey(suspended.rawKey)).outcome).toBe("valid");
      });

      it("refuses hostile input as malformed without touching the store", async () => {
        const { kg, calls } = await setup();
        await kg.createOrganization("Acme Corp");
        const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
        const wrongChecksum = rawKey.slice(0, -1) + (rawKey.endsWith("A") ? "B" : "A");
        const flipped = rawKey.slice(0, 20) + (rawKey[20] === "a" ? "b" : "a") + rawKey.slice(21);
        const hostile = [
          "x".repeat(10_240),
          `kg_live_${"A".repeat(10_240)}`,
          `${rawKey.slice(0, 30)}\u0000${rawKey.slice(31)}`,
          `${rawKey.slice(0, 30)}\r\n${rawKey.slice(32)}`,
          `${rawKey.slice(0, 30)}é${rawKey.slice(31)}`,
          wrongChecksum,
          flipped,
          `${rawKey} `,
          rawKey.toUpperCase(),
        ];
        const before = calls.findApiKeyByHash ?? 0;
        for (const value of hostile) {
          expect(await kg.verifyKey(value), JSON.stringify(value.slice(0, 60))).toEqual({
            outcome: "malformed",
            code: "invalid_api_key",
          });
        }
        expect(calls.findApiKeyByHash ?? 0).toBe(before);
      });

      it("answers a warm key from the cache with no store query", async () => {
        const { kg, calls } = await setup();
        await kg.createOrganization("Acme Corp");
        const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
        const unknown = generateRawKey().rawKey;
        await Promise.all([kg.verifyKey(rawKey), kg.verifyKey(rawKey), kg.verifyKey(rawKey)]);
        for (let i = 0; i < 50; i++) {
          expect((await kg.verifyKey(rawKey)).outcome).toBe("valid");
          expect((await kg.verifyKey(unknown)).outcome).toBe("unknown");
        }
        expect(calls.findApiKeyByHash).toBe(2);
      });

      it("keeps valid keys off the database through a flood of unknown keys", async () => {
        const maxEntries = 20;
        const { kg, calls } = await setup({ cache: { maxEntries } });
        await kg.createOrganization("Acme Corp");
        const rawKeys: string[] = [];
        for (let i = 0; i < maxEntries; i++) {
          rawKeys.push(
            (await kg.createApiKey({ organization: "Acme Corp", label: `k${i}` })).rawKey,
          );
        }
        for (const rawKey of rawKeys) expect((await kg.verifyKey(rawKey)).outcome).toBe("valid");
        expect(calls.findApiKeyByHash).toBe(maxEntries);
        // Well-formed, checksum-valid keys that no one has: each one costs a query...
        for (let i = 0; i < 50 * maxEntries; i++) {
          expect((await kg.verifyKey(generateRawKey().rawKey)).outcome).toBe("unknown");
        }
        expect(calls.findApiKeyByHash).toBe(maxEntries + 50 * maxEntries);
        // ...but evicts none of the valid keys: they are still answered without one.
        for (const rawKey of rawKeys) expect((await kg.verifyKey(rawKey)).outcome).toBe("valid");
        expect(calls.findApiKeyByHash).toBe(maxEntries + 50 * maxEntries);
      });

      it("sees a revoke or update made in this process at once", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        const { rawKey, key } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
        expect((await kg.verifyKey(rawKey)).outcome).toBe("valid");
        await kg.updateApiKey(key.id, { scopes: ["billing"] });
        const after = await kg.verifyKey(rawKey);
        expect(after.outcome === "valid" && after.key.scopes).toEqual(["billing"]);
        await kg.revokeApiKey(key.prefix);
        expect((await kg.verifyKey(rawKey)).outcome).toBe("revoked");
      });

      it("sees changes made by another process within the cache TTL", async () => {
        const { kg, clock, openAnother } = await setup();
        const other = await openAnother();
        await kg.createOrganization("Acme Corp");
        const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
        expect((await kg.verifyKey(rawKey)).outcome).toBe("valid");
        await other.kg.revokeApiKey(rawKey.slice(0, 12));
        expect((await kg.verifyKey(rawKey)).outcome).toBe("valid"); // still cached
        clock.advance(kg.config.cache.ttlMs + 1);
        expect((await kg.verifyKey(rawKey)).outcome).toBe("revoked");
      });

      it("remembers an unknown key only for the negative TTL", async () => {
        const { kg, clock, calls } = await setup();
        const unknown = generateRawKey().rawKey;
        expect((await kg.verifyKey(unknown)).outcome).toBe("unknown");
        expect((await kg.verifyKey(unknown)).outcome).toBe("unknown");
        expect(calls.findApiKeyByHash).toBe(1);
        clock.advance(kg.config.cache.negativeTtlMs + 1);
        expect((await kg.verifyKey(unknown)).outcome).toBe("unknown");
        expect(calls.findApiKeyByHash).toBe(2);
      });
    });

    describe("usage and stats", () => {
      const event = (keyId: string, at: Date, statusCode = 200): UsageEvent => ({
        keyId,
        path: "/api/data",
        method: "GET",
        statusCode,
        latencyMs: 3,
        ipAddress: "203.0.113.7",
        timestamp: at,
      });

      it("writes usage in batches and moves last_used_at forward", async () => {
        const { kg, clock } = await setup();
        await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        const b = await kg.createApiKey({ organization: "Acme Corp", label: "b" });
        const now = clock.now();
        for (let i = 0; i < 2_500; i++) kg.recordUsage(event(a.key.id, new Date(now - i * 1000)));
        kg.recordUsage(event(b.key.id, new Date(now - 2 * 3600_000), 500));
        await kg.flushUsage();
        expect(kg.usageStats).toMatchObject({ buffered: 0, written: 2_501, dropped: 0 });
        expect((await kg.getApiKey(a.key.id)).lastUsedAt).toEqual(new Date(now));
        expect((await kg.getApiKey(b.key.id)).lastUsedAt).toEqual(new Date(now - 2 * 3600_000));

        // An older batch never moves last_used_at backwards.
        kg.recordUsage(event(a.key.id, new Date(now - 10 * 3600_000)));
        await kg.flushUsage();
        expect((await kg.getApiKey(a.key.id)).lastUsedAt).toEqual(new Date(now));
      });

      it("counts aggregated rows by their request count", async () => {
        const { kg, clock } = await setup();
        await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        const at = new Date(clock.now() - 60_000);
        await kg.store.insertUsageEvents([
          { ...event(a.key.id, at), requestCount: 40 },
          { ...event(a.key.id, at, 503), requestCount: 10 },
        ]);
        expect(await kg.stats()).toMatchObject({
          totalRequests: 50,
          requestsLastHour: 50,
          errorRate: 0.2,
        });
        const usage = await kg.usage(a.key.id, { since: new Date(clock.now() - 3_600_000) });
        const total = usage.buckets.reduce((sum, b) => sum + b.total, 0);
        const errors = usage.buckets.reduce((sum, b) => sum + b.status5xx, 0);
        expect([total, errors]).toEqual([50, 10]);
      });

      it("counts a key's allowed requests since a time (refusals with 429 excluded)", async () => {
        const { kg, clock } = await setup();
        await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        const b = await kg.createApiKey({ organization: "Acme Corp", label: "b" });
        const now = clock.now();
        await kg.store.insertUsageEvents([
          { ...event(a.key.id, new Date(now - 1000)), requestCount: 5 },
          { ...event(a.key.id, new Date(now - 1000), 500), requestCount: 2 },
          { ...event(a.key.id, new Date(now - 1000), 429), requestCount: 9 },
          { ...event(a.key.id, new Date(now - 90_000)), requestCount: 4 },
          { ...event(b.key.id, new Date(now - 1000)), requestCount: 3 },
        ]);
        expect(await kg.store.countAllowedRequests(a.key.id, new Date(now - 60_000))).toBe(7);
        expect(await kg.store.countAllowedRequests(a.key.id, new Date(now - 120_000))).toBe(11);
        expect(await kg.store.countAllowedRequests(b.key.id, new Date(now))).toBe(0);
      });

      it("writes a batch completely or not at all", async () => {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        const good = event(a.key.id, new Date());
        const orphan = event("00000000-0000-4000-8000-000000000000", new Date());
        await expect(kg.store.insertUsageEvents([good, good, orphan])).rejects.toThrow();
        expect((await kg.stats()).totalRequests).toBe(0);
        expect((await kg.getApiKey(a.key.id)).lastUsedAt).toBeNull();
      });

      it("reports a key's usage per hour and status class", async () => {
        const { kg, clock } = await setup();
        clock.set(new Date("2026-03-10T12:34:56Z"));
        await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        const b = await kg.createApiKey({ organization: "Acme Corp", label: "b" });
        const at = (iso: string, status: number) => event(a.key.id, new Date(iso), status);
        kg.recordUsage(at("2026-03-10T10:05:00Z", 200));
        kg.recordUsage(at("2026-03-10T10:59:59Z", 201));
        kg.recordUsage(at("2026-03-10T10:30:00Z", 404));
        kg.recordUsage(at("2026-03-10T12:00:00Z", 503));
        kg.recordUsage(at("2026-03-10T12:01:00Z", 302));
        kg.recordUsage(at("2026-03-09T10:00:00Z", 200)); // before the window
        kg.recordUsage(event(b.key.id, new Date("2026-03-10T12:00:00Z"), 200)); // other key
        const usage = await kg.usage(a.key.prefix, { since: new Date("2026-03-10T09:30:00Z") });
        expect(usage.key.id).toBe(a.key.id);
        expect(usage.buckets).toEqual([
          {
            hour: new Date("2026-03-10T09:00:00Z"),
            total: 0,
            status2xx: 0,
            status3xx: 0,
            status4xx: 0,
            status5xx: 0,
          },
          {
            hour: new Date("2026-03-10T10:00:00Z"),
            total: 3,
            status2xx: 2,
            status3xx: 0,
            status4xx: 1,
            status5xx: 0,
          },
          {
            hour: new Date("2026-03-10T11:00:00Z"),
            total: 0,
            status2xx: 0,
            status3xx: 0,
            status4xx: 0,
            status5xx: 0,
          },
          {
            hour: new Date("2026-03-10T12:00:00Z"),
            total: 2,
            status2xx: 0,
            status3xx: 1,
            status4xx: 0,
            status5xx: 1,
          },
        ]);
      });

      it("reports the seed's statistics", async () => {
        const { kg, clock } = await setup();
        expect(await kg.stats()).toEqual({
          organizations: 0,
          totalKeys: 0,
          activeKeys: 0,
          totalRequests: 0,
          requestsLastHour: 0,
          errorRate: 0,
          legacyHashKeys: 0,
          shadowRefusals: 0,
        });
        await kg.createOrganization("Acme Corp");
        await kg.createOrganization("Dev Team");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        const r = await kg.createApiKey({ organization: "Acme Corp", label: "r" });
        await kg.createApiKey({
          organization: "Dev Team",
          label: "e",
          expiresAt: new Date(clock.now() + 1000),
        });
        await kg.revokeApiKey(r.key.id);
        const now = clock.now();
        for (let i = 0; i < 40; i++)
          kg.recordUsage(event(a.key.id, new Date(now - 30 * 60_000), i < 4 ? 429 : 200));
        for (let i = 0; i < 60; i++) kg.recordUsage(event(a.key.id, new Date(now - 3 * 3600_000)));
        clock.advance(2000); // the expiring key has now expired
        expect(await kg.stats()).toEqual({
          organizations: 2,
          totalKeys: 3,
          activeKeys: 1,
          totalRequests: 100,
          requestsLastHour: 40,
          errorRate: 0.04,
          legacyHashKeys: 0,
          shadowRefusals: 0,
        });
      });

      it("flushes queued usage on close", async () => {
        const { kg, openAnother } = await setup();
        await kg.createOrganization("Acme Corp");
        const a = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
        for (let i = 0; i < 10; i++) kg.recordUsage(event(a.key.id, new Date()));
        await kg.close();
        const other = await openAnother();
        expect((await other.kg.stats()).totalRequests).toBe(10);
      });
    });

    describe("IP blocks", () => {
      it("are stored, listed while in force, survive a reopen and are lifted", async () => {
        const { kg, clock, openAnother } = await setup();
        const global = await kg.blockIp("203.0.113.7", { duration: "1 hour", reason: "fraud" });
        expect(global).toMatchObject({
          client: "203.0.113.7",
          scope: "global",
          untilMs: clock.now() + 3_600_000,
          reason: "fraud",
        });
        await kg.blockIp("2001:db8:1:2::99", {
          duration: 60,
          scope: "path",
          path: "/api/withdraw",
        });
        await kg.blockIp("198.51.100.1", { until: new Date(clock.now() + 1000) });
        const other = await openAnother();
        const listed = await other.kg.listBlocks();
        // Soonest to end first.
        expect(listed.map((b) => [b.client, b.scope, b.path ?? null])).toEqual([
          ["198.51.100.1", "global", null],
          ["2001:db8:1:2::/64", "path", "/api/withdraw"],
          ["203.0.113.7", "global", null],
        ]);
        clock.advance(1000);
        expect((await kg.listBlocks()).map((b) => b.client)).not.toContain("198.51.100.1");
        expect(await kg.unblockIp("203.0.113.7")).toBe(true);
        expect(await kg.unblockIp("203.0.113.7")).toBe(false);
        expect((await other.kg.listBlocks()).map((b) => b.client)).toEqual(["2001:db8:1:2::/64"]);
      });

      it("keep automatic blocks apart from manual ones, through a reopen, until lifted", async () => {
        const { kg, clock, openAnother } = await setup();
        await kg.blockIp("203.0.113.8", { duration: "1 hour", reason: "lockout" }); // by hand
        await kg.blockAutomatically({
          client: "203.0.113.9",
          scope: "global",
          untilMs: clock.now() + 86_400_000,
          reason: "auth_failures",
        });
        await kg.blockAutomatically({
          client: "2001:db8:5:6::/64",
          scope: "path",
          path: "/login",
          untilMs: clock.now() + 900_000,
          reason: "lockout",
          automatic: true,
        });
        const other = await openAnother();
        await other.kg.syncBlocks();
        const listed = await other.kg.listBlocks();
        expect(listed.map((b) => [b.client, b.reason, b.automatic === true])).toEqual([
          ["2001:db8:5:6::/64", "lockout", true],
          ["203.0.113.8", "lockout", false],
          ["203.0.113.9", "auth_failures", true],
        ]);
        // A process that starts now refuses them from memory, as it does manual blocks.
        expect(other.kg.findManualBlock("203.0.113.9", "/api/data", clock.now())).toMatchObject({
          reason: "auth_failures",
          automatic: true,
        });
        expect(other.kg.findManualBlock("2001:db8:5:6::/64", "/login", clock.now())).toBeDefined();
        expect(other.kg.findManualBlock("2001:db8:5:6::/64", "/api", clock.now())).toBeUndefined();
        const raw = (await openAnother()).kg.store;
        expect((await raw.listIpBlocks(new Date(clock.now()), { automatic: false })).length).toBe(
          1,
        );
        expect(
          (await raw.listIpBlocks(new Date(clock.now()), { automatic: true, limit: 1 })).map(
            (b) => b.client,
          ),
        ).toEqual(["203.0.113.9"]); // the latest to end first
        expect(await other.kg.unblockIp("203.0.113.9")).toBe(true);
        expect(other.kg.findManualBlock("203.0.113.9", "/api/data", clock.now())).toBeUndefined();
        const third = await openAnother();
        await third.kg.syncBlocks();
        expect((await third.kg.listBlocks()).map((b) => b.client)).toEqual([
          "2001:db8:5:6::/64",
          "203.0.113.8",
        ]);
        clock.advance(900_000);
        expect((await third.kg.listBlocks()).map((b) => b.client)).toEqual(["203.0.113.8"]);
        // Ended automatic rows are deleted (clients make them); manual ones stay.
        expect(await raw.deleteEndedAutomaticBlocks?.(new Date(clock.now()))).toBe(1);
        expect(await raw.deleteEndedAutomaticBlocks?.(new Date(clock.now()))).toBe(0);
        expect((await raw.listIpBlocks(new Date(clock.now()))).map((b) => b.client)).toEqual([
          "203.0.113.8",
        ]);
      });

      it("refuse bad input and write nothing", async () => {
        const { kg } = await setup();
        await expectCode(kg.blockIp("not-an-ip"), "invalid_input", /not an IP address/);
        await expectCode(
          kg.blockIp("203.0.113.7", { duration: "forever" }),
          "invalid_input",
          /duration/,
        );
        await expectCode(kg.blockIp("203.0.113.7", { scope: "path" }), "invalid_input", /path/);
        await expectCode(
          kg.blockIp("203.0.113.7", { until: new Date(0) }),
          "invalid_input",
          /future/,
        );
        await expectCode(
          kg.blockIp("203.0.113.7", { reason: "x\u0000" }),
          "invalid_input",
          /reason/,
        );
        expect(await kg.listBlocks()).toEqual([]);
      });
    });

    it("works without the secret for everything that does not hash a raw key", async () => {
      const { kg, database } = await setup();
      await kg.createOrganization("Acme Corp");
      const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
      const store = await database.open();
      const readOnly = new KeyGuard({
        config: resolveConfig({}, {}, { requireSecret: false }),
        store,
      });
      cleanups.push(() => readOnly.close());
      expect((await readOnly.listApiKeys()).map((k) => k.label)).toEqual(["k"]);
      expect((await readOnly.stats()).totalKeys).toBe(1);
      await expectCode(
        readOnly.createApiKey({ organization: "Acme Corp", label: "x" }),
        "invalid_config",
        /secret/,
      );
      await expectCode(readOnly.verifyKey(rawKey), "invalid_config", /secret/);
      expect(await readOnly.listApiKeys()).toHaveLength(1);
    });

    it("never logs a raw key", async () => {
      const written: string[] = [];
      const originals = { out: process.stdout.write, err: process.stderr.write };
      const capture = (chunk: unknown) => {
        written.push(String(chunk));
        return true;
      };
      process.stdout.write = capture as typeof process.stdout.write;
      process.stderr.write = capture as typeof process.stderr.write;
      let rawKey = "";
      try {
        const { kg } = await setup();
        await kg.createOrganization("Acme Corp");
        ({ rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" }));
        await kg.verifyKey(rawKey);
        await kg.revokeApiKey(rawKey);
        await kg.verifyKey(rawKey);
        await kg.getApiKey(rawKey.slice(0, 12)).catch(() => {});
      } finally {
        process.stdout.write = originals.out;
        process.stderr.write = originals.err;
      }
      expect(rawKey).not.toBe("");
      expect(written.join("")).not.toContain(rawKey);
    });

    describeUsageConformance(createDatabase);
    describeAuditConformance(createDatabase);
    describeCreditStorage(createDatabase);
  });
}
