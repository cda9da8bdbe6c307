import { isKeyGuardError, type KeyGuard } from "@keyguard/core";
import { describe, expect, it } from "vitest";
import type { FakeClock } from "../fake-clock.js";

/** What the IP-rule cases need from the store suite's set-up. */
export type IpRuleSetup = () => Promise<{
  readonly kg: KeyGuard;
  readonly clock: FakeClock;
  /** Another KeyGuard with a store of its own on the same database, like another process. */
  readonly openAnother: () => Promise<{ readonly kg: KeyGuard }>;
}>;

/**
 * IP allow / deny rules and keys' `allowed_ips` as the store keeps them (a capability of
 * the store suite): persisted canonical, one rule per range even when processes race,
 * removed once, and a key's list kept through updates and rotations.
 */
export function describeIpRuleStorage(setup: IpRuleSetup): void {
  describe("IP rules and keys' allowed_ips", () => {
    it("rules are stored canonical, listed oldest first, seen by another store, removed once", async () => {
      const { kg, clock, openAnother } = await setup();
      const first = await kg.addIpRule({ cidr: "10.1.2.3/8", action: "allow", reason: "internal" });
      clock.advance(1_000);
      const second = await kg.addIpRule({ cidr: "2001:DB8:0::/32", action: "deny" });
      expect(first).toMatchObject({
        created: true,
        rule: { cidr: "10.0.0.0/8", action: "allow", reason: "internal", source: "store" },
      });
      expect(second.rule).toMatchObject({ cidr: "2001:db8::/32", action: "deny", reason: null });
      const other = await openAnother();
      const listed = await other.kg.listIpRules();
      expect(listed.map((rule) => [rule.id, rule.cidr, rule.action])).toEqual([
        [first.rule.id, "10.0.0.0/8", "allow"],
        [second.rule.id, "2001:db8::/32", "deny"],
      ]);
      expect(listed[0]?.createdAt).toEqual(first.rule.createdAt);
      expect(await other.kg.removeIpRule(second.rule.id as string)).toMatchObject({
        cidr: "2001:db8::/32",
      });
      await expect(kg.removeIpRule(second.rule.id as string)).rejects.toMatchObject({
        code: "not_found",
      });
      expect((await kg.listIpRules()).map((rule) => rule.cidr)).toEqual(["10.0.0.0/8"]);
    });

    it("the same range added from five stores at once is one rule", async () => {
      const { kg, openAnother } = await setup();
      const all = [kg];
      for (let i = 0; i < 4; i++) all.push((await openAnother()).kg);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (all[i % all.length] as KeyGuard).addIpRule({
            cidr: i % 2 === 0 ? "198.51.100.0/24" : "198.51.100.7/24",
            action: "deny",
          }),
        ),
      );
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.rule.id)).size).toBe(1);
      expect(await kg.listIpRules()).toHaveLength(1);
      // The other action for that range is refused, naming the rule there.
      const refused = await kg.addIpRule({ cidr: "198.51.100.0/24", action: "allow" }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isKeyGuardError(refused, "conflict")).toBe(true);
      expect(await kg.listIpRules()).toHaveLength(1);
    });

    it("a key's allowed_ips are stored, changed, cleared and kept by a rotation", async () => {
      const { kg } = await setup();
      await kg.createOrganization("Acme Corp");
      const created = await kg.createApiKey({
        organization: "Acme Corp",
        label: "office",
        allowedIps: ["192.0.2.0/24", "::ffff:198.51.100.1", "2001:db8::/48"],
      });
      const canonical = ["192.0.2.0/24", "198.51.100.1/32", "2001:db8::/48"];
      expect(created.key.allowedIps).toEqual(canonical);
      expect((await kg.getApiKey(created.key.id)).allowedIps).toEqual(canonical);
      const verified = await kg.verifyKey(created.rawKey);
      expect(verified.outcome === "valid" && verified.key.allowedIps).toEqual(canonical);
      const rotated = await kg.rotateApiKey(created.key.id);
      expect(rotated.key.allowedIps).toEqual(canonical);
      const updated = await kg.updateApiKey(rotated.key.id, { allowedIps: ["203.0.113.9"] });
      expect(updated.allowedIps).toEqual(["203.0.113.9/32"]);
      // A patch of something else keeps them.
      expect((await kg.updateApiKey(rotated.key.id, { label: "renamed" })).allowedIps).toEqual([
        "203.0.113.9/32",
      ]);
      expect((await kg.updateApiKey(rotated.key.id, { allowedIps: [] })).allowedIps).toBeNull();
      const plain = await kg.createApiKey({ organization: "Acme Corp", label: "anywhere" });
      expect(plain.key.allowedIps).toBeNull();
      const byId = new Map((await kg.listApiKeys()).map((key) => [key.id, key.allowedIps]));
      expect(byId.get(created.key.id)).toEqual(canonical); // the rotated predecessor
      expect(byId.get(rotated.key.id)).toBeNull();
      expect(byId.get(plain.key.id)).toBeNull();
    });

    it("bad allowed_ips leave nothing written", async () => {
      const { kg } = await setup();
      await kg.createOrganization("Acme Corp");
      await expect(
        kg.createApiKey({ organization: "Acme Corp", label: "x", allowedIps: ["10.0.0.0/8", "x"] }),
      ).rejects.toMatchObject({ code: "invalid_input" });
      expect(await kg.listApiKeys()).toEqual([]);
    });
  });
}
