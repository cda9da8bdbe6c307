import { isKeyGuardError, KeyGuard, resolveConfig, type UsageEvent } from "@keyguard/core";
import { timeOrderedId } from "@keyguard/core/internal";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../fake-clock.js";
import type { TestDatabase } from "./support.js";

const SECRET = "conformance-secret-0123456789";

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (isKeyGuardError(error) ? error.code : String(error)),
  );
}

/**
 * How every Store keeps prepaid credits (called by `describeStoreConformance`): the grant
 * on the key, the spending per rotation lineage and period, added only by usage rows the
 * batch actually inserts; a balance that survives a restart and a rotation; top-ups that
 * all count when they race, each audited in its transaction.
 */
export function describeCreditStorage(createDatabase: () => Promise<TestDatabase>): void {
  describe("credits: balances, spending, top-ups", () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup() {
      const database = await createDatabase();
      cleanups.push(() => database.dispose());
      const clock = new FakeClock(new Date("2026-03-10T12:34:56Z"));
      const open = async () => {
        const kg = new KeyGuard({
          config: resolveConfig({ secretKey: SECRET }, {}),
          store: await database.open(),
          clock,
        });
        cleanups.push(() => kg.close());
        await kg.init();
        return kg;
      };
      const kg = await open();
      await kg.createOrganization("Acme Corp");
      const together = <T>(tasks: Array<() => Promise<T>>): Promise<T[]> =>
        database.sharedWriteLock
          ? tasks.reduce(
              async (done, task) => [...(await done), await task()],
              Promise.resolve([] as T[]),
            )
          : Promise.all(tasks.map((task) => task()));
      return { kg, clock, open, together };
    }

    /** A usage row of `keyId` that spent `credits` in the period starting at `periodStart`. */
    function spending(keyId: string, credits: number, periodStart: Date, at: Date): UsageEvent {
      return {
        id: timeOrderedId(at.getTime()),
        keyId,
        path: "/api/data",
        method: "GET",
        statusCode: 200,
        latencyMs: 3,
        ipAddress: "203.0.113.7",
        timestamp: at,
        charged: true,
        credits,
        creditsPeriodStart: periodStart.getTime(),
      };
    }

    it("stores the grant on the key and the spending apart, and both survive a reopen", async () => {
      const { kg, clock, open } = await setup();
      const { key } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "prepaid",
        credits: { remaining: 10, refill: { amount: 5, interval: "monthly" } },
      });
      expect(key.credits).toEqual({
        granted: 10,
        epoch: new Date(clock.now()),
        refill: { amount: 5, interval: "monthly" },
      });
      const epoch = (key.credits?.epoch as Date) ?? new Date(0);
      await kg.store.insertUsageEvents([spending(key.id, 3, epoch, new Date(clock.now()))]);
      const reopened = await open();
      const stored = await reopened.getApiKey(key.id);
      expect(stored.credits).toEqual(key.credits);
      expect(await reopened.store.creditsSpent?.(key.quotaId, epoch)).toBe(3);
      expect(await reopened.creditBalance(stored)).toEqual({
        remaining: 7,
        periodCredits: 10,
        periodStart: epoch,
        refillsAt: new Date("2026-04-01T00:00:00Z"),
      });
      // A key without credits has none, and old rows read back without them.
      const { key: plain } = await kg.createApiKey({ organization: "Acme Corp", label: "plain" });
      expect((await reopened.getApiKey(plain.id)).credits).toBeNull();
      expect(await reopened.creditBalance(plain)).toBeUndefined();
    });

    it("spends a batch's credits once, however often the batch is written", async () => {
      const { kg, clock } = await setup();
      const { key } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "retried",
        credits: { remaining: 100 },
      });
      const epoch = key.credits?.epoch as Date;
      const now = new Date(clock.now());
      const batch = [spending(key.id, 4, epoch, now), spending(key.id, 6, epoch, now)];
      await kg.store.insertUsageEvents(batch);
      // A retry after a lost COMMIT reply; a later batch with those rows again and a new one.
      await kg.store.insertUsageEvents(batch);
      await kg.store.insertUsageEvents([...batch, spending(key.id, 1, epoch, now)]);
      expect(await kg.store.creditsSpent?.(key.quotaId, epoch)).toBe(11);
      expect((await kg.creditBalance(key))?.remaining).toBe(89);
      // Spending of another period is kept apart.
      expect(await kg.store.creditsSpent?.(key.quotaId, new Date(epoch.getTime() + 1))).toBe(0);
    });

    it("keeps the balance through a rotation: the successor has the grant and the lineage's spending", async () => {
      const { kg, clock } = await setup();
      const { key } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "rotated",
        credits: { remaining: 50, refill: { amount: 20, interval: "daily" } },
      });
      const epoch = key.credits?.epoch as Date;
      await kg.store.insertUsageEvents([spending(key.id, 30, epoch, new Date(clock.now()))]);
      const { key: successor } = await kg.rotateApiKey(key.id, { gracePeriodMs: 60_000 });
      expect(successor.credits).toEqual(key.credits);
      expect(successor.quotaId).toBe(key.quotaId);
      expect((await kg.creditBalance(successor))?.remaining).toBe(20);
      // During the grace period both keys spend the one balance.
      await kg.store.insertUsageEvents([
        spending(successor.id, 5, epoch, new Date(clock.now())),
        spending(key.id, 1, epoch, new Date(clock.now())),
      ]);
      expect((await kg.creditBalance(successor))?.remaining).toBe(14);
    });

    it("counts every one of 20 top-ups racing from two stores, each audited", async () => {
      const { kg, open, together } = await setup();
      const other = await open();
      const { key } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "topped",
        credits: { remaining: 10 },
      });
      await together(
        Array.from(
          { length: 20 },
          (_, i) => () => (i % 2 === 0 ? kg : other).addCredits(key.id, i + 1),
        ),
      );
      const after = await kg.getApiKey(key.id);
      expect(after.credits?.granted).toBe(10 + 210);
      expect(after.credits?.epoch).toEqual(key.credits?.epoch);
      const events = await kg.listAuditEvents({ action: "key.credits_added" });
      expect(events).toHaveLength(20);
      expect(events.every((event) => event.targetId === key.id)).toBe(true);
      const added = events.map((event) => Number(event.changes.after.credits_added));
      expect(added.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it("a top-up after a refill boundary starts from the refill, at that boundary", async () => {
      const { kg, clock } = await setup();
      const { key } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "daily",
        credits: { remaining: 3, refill: { amount: 100, interval: "daily" } },
      });
      clock.advance(2 * 86_400_000); // 2026-03-12T12:34:56Z
      const topped = await kg.addCredits(key.id, 7);
      expect(topped.credits).toEqual({
        granted: 107,
        epoch: new Date("2026-03-12T00:00:00Z"),
        refill: { amount: 100, interval: "daily" },
      });
      expect(await kg.creditBalance(topped)).toMatchObject({
        remaining: 107,
        refillsAt: new Date("2026-03-13T00:00:00Z"),
      });
    });

    it("sets, replaces and removes credits through updates, audited as key.updated", async () => {
      const { kg, clock } = await setup();
      const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "later" });
      const given = await kg.updateApiKey(key.id, { credits: { remaining: 5 } });
      expect(given.credits).toEqual({ granted: 5, epoch: new Date(clock.now()), refill: null });
      clock.advance(1000);
      const removed = await kg.updateApiKey(key.id, { credits: null });
      expect(removed.credits).toBeNull();
      const events = await kg.listAuditEvents({ action: "key.updated" });
      expect(events).toHaveLength(2);
      for (const event of events) expect(Object.keys(event.changes.after)).toEqual(["credits"]);
      // A label change does not list the (unchanged) credits.
      await kg.updateApiKey(key.id, { credits: { remaining: 1 } });
      await kg.updateApiKey(key.id, { label: "renamed" });
      const last = (await kg.listAuditEvents({ action: "key.updated" })).find(
        (event) => event.changes.after.label === "renamed",
      );
      expect(Object.keys(last?.changes.after ?? {})).toEqual(["label"]);
    });

    it("refuses bad top-ups and bad credits, changing nothing", async () => {
      const { kg } = await setup();
      const { key } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "strict",
        credits: { remaining: 5 },
      });
      for (const amount of [0, -1, 1.5, Number.NaN, 2 ** 53, "5" as unknown as number]) {
        expect(await codeOf(kg.addCredits(key.id, amount))).toBe("invalid_input");
      }
      await kg.addCredits(key.id, Number.MAX_SAFE_INTEGER - 5);
      // Past the largest exact integer: refused in the transaction, nothing written.
      expect(await codeOf(kg.addCredits(key.id, 1))).toBe("invalid_input");
      expect((await kg.getApiKey(key.id)).credits?.granted).toBe(Number.MAX_SAFE_INTEGER);
      for (const credits of [
        { remaining: -1 },
        { remaining: 1.5 },
        { remaining: 2 ** 53 },
        { remaining: 1, refill: { amount: 0, interval: "daily" } },
        { remaining: 1, refill: { amount: 1, interval: "hourly" } },
        { remaining: 1, extra: true },
        "10",
      ]) {
        expect(
          await codeOf(
            kg.createApiKey({ organization: "Acme Corp", label: "bad", credits } as never),
          ),
        ).toBe("invalid_input");
      }
      const { key: none } = await kg.createApiKey({ organization: "Acme Corp", label: "none" });
      expect(await codeOf(kg.addCredits(none.id, 5))).toBe("conflict");
      expect(await codeOf(kg.addCredits("0190a1b2-0000-7000-8000-000000000000", 5))).toBe(
        "api_key_not_found",
      );
      await kg.revokeApiKey(key.id);
      expect(await codeOf(kg.addCredits(key.id, 5))).toBe("conflict");
      const { key: old } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "old",
        credits: { remaining: 5 },
      });
      await kg.rotateApiKey(old.id);
      // The balance belongs to the successor now: the answer names it.
      expect(await codeOf(kg.addCredits(old.id, 5))).toBe("key_already_rotated");
      expect(await kg.listAuditEvents({ action: "key.credits_added" })).toHaveLength(1);
    });
  });
}
