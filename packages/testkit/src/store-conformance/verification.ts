import { generateRawKey } from "@keyguard/core/internal";
import { describe, expect, it } from "vitest";
import { type CreateDatabase, storeHarness } from "./support.js";

/**
 * Verification through the store: every outcome told apart, hostile input refused without
 * a store query, and the verification cache (warm keys, floods of unknown keys, changes made
 * here or by another process, the negative TTL).
 */
export function describeVerification(createDatabase: CreateDatabase): void {
  describe("verification", () => {
    const { setup } = storeHarness(createDatabase);
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
        rawKeys.push((await kg.createApiKey({ organization: "Acme Corp", label: `k${i}` })).rawKey);
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
}
