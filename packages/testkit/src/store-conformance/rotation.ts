import { describe, expect, it } from "vitest";
import { type CreateDatabase, expectCode, storeHarness } from "./support.js";

/**
 * Key rotation: a successor with the same settings, the old key revoked at once or kept
 * working through a grace period.
 */
export function describeRotationStorage(createDatabase: CreateDatabase): void {
  describe("rotation", () => {
    const { setup } = storeHarness(createDatabase);
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
}
