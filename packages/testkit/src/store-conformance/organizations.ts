import { describe, expect, it } from "vitest";
import { type CreateDatabase, expectCode, storeHarness } from "./support.js";

/**
 * Organizations: created, listed and found by name or id; a duplicate (even two racing
 * creations), an empty, over-long or control-character name refused with nothing written;
 * SQL metacharacters and non-Latin text stored literally; suspended and reactivated.
 */
export function describeOrganizationStorage(createDatabase: CreateDatabase): void {
  describe("organizations", () => {
    const { setup } = storeHarness(createDatabase);
    it("are created, listed and found by name or id", async () => {
      const { kg } = await setup();
      const acme = await kg.createOrganization("Acme Corp");
      await kg.createOrganization("Dev Team");
      expect(acme).toMatchObject({ name: "Acme Corp", status: "active" });
      expect(acme.id).toMatch(/^[0-9a-f-]{36}$/);
      expect((await kg.listOrganizations()).map((o) => o.name)).toEqual(["Acme Corp", "Dev Team"]);
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

    it("counts each organization's keys, and the active ones as of now", async () => {
      const { kg, clock } = await setup();
      const acme = await kg.createOrganization("Acme Corp");
      const dev = await kg.createOrganization("Dev Team");
      const empty = await kg.createOrganization("Empty");
      const other = await kg.createOrganization("Not asked");
      const create = (organization: string, expiresAt?: Date) =>
        kg.createApiKey({ organization, label: "k", ...(expiresAt && { expiresAt }) });
      await create("Acme Corp");
      await create("Acme Corp");
      const revoked = await create("Acme Corp");
      await kg.revokeApiKey(revoked.key.id);
      await create("Acme Corp", new Date(clock.now() + 60_000));
      await create("Dev Team");
      await create("Not asked");
      clock.advance(120_000); // the fourth Acme key has expired
      const counts = await kg.countKeysByOrganization([acme.id, dev.id, empty.id]);
      expect(counts).toBeDefined();
      expect(counts?.get(acme.id)).toEqual({ total: 4, active: 2 });
      expect(counts?.get(dev.id)).toEqual({ total: 1, active: 1 });
      expect(counts?.get(empty.id) ?? { total: 0, active: 0 }).toEqual({ total: 0, active: 0 });
      expect(counts?.has(other.id)).toBe(false);
      expect((await kg.countKeysByOrganization([]))?.size).toBe(0);
    });
  });
}
