import { describe, expect, it } from "vitest";
import { type CreateDatabase, storeHarness } from "./support.js";

/**
 * Keys' and organizations' named windows, read back with the key; bad windows refused
 * before anything is written.
 */
export function describeLimitStorage(createDatabase: CreateDatabase): void {
  describe("limits", () => {
    const { setup } = storeHarness(createDatabase);
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
}
