import { describe, expect, it } from "vitest";
import { type CreateDatabase, expectCode, storeHarness } from "./support.js";

/**
 * IP blocks: stored, listed while in force, kept through a reopen and lifted; automatic
 * blocks kept apart from manual ones; bad input refused with nothing written.
 */
export function describeIpBlockStorage(createDatabase: CreateDatabase): void {
  describe("IP blocks", () => {
    const { setup } = storeHarness(createDatabase);
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
      expect((await raw.listIpBlocks(new Date(clock.now()), { automatic: false })).length).toBe(1);
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
      await expectCode(kg.blockIp("203.0.113.7", { reason: "x\u0000" }), "invalid_input", /reason/);
      expect(await kg.listBlocks()).toEqual([]);
    });
  });
}
