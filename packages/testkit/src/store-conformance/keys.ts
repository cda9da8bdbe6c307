import { createKeyHasher, generateRawKey } from "@keyguard/core/internal";
import { describe, expect, it } from "vitest";
import { type CreateDatabase, expectCode, SECRET, storeHarness } from "./support.js";

/**
 * API keys: created with the raw key returned once and listed masked, filtered and paged in
 * the database, found by id, display prefix or raw key, refused bad input with nothing
 * written, updated and revoked.
 */
export function describeKeyStorage(createDatabase: CreateDatabase): void {
  describe("keys", () => {
    const { setup } = storeHarness(createDatabase);
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
}
