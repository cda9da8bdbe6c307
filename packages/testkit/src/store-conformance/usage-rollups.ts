import { KeyGuard, type KeyGuardConfigInput, resolveConfig, type UsageEvent } from "@keyguard/core";
import { timeOrderedId } from "@keyguard/core/internal";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../fake-clock.js";
import type { TestDatabase } from "./support.js";

const SECRET = "conformance-secret-0123456789";
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The usage rules every Store keeps (called by `describeStoreConformance`): a batch written
 * twice (a retry after a lost COMMIT reply, a spool replayed) counts once; only charged
 * requests seed a quota; rollups and retention change no number a reader sees; concurrent
 * writers and concurrent rollups neither deadlock nor count a row twice.
 */
export function describeUsageRollups(createDatabase: () => Promise<TestDatabase>): void {
  describe("usage: idempotence, quota charges, rollups", () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(usage: KeyGuardConfigInput["usage"] = {}) {
      const database = await createDatabase();
      cleanups.push(() => database.dispose());
      const clock = new FakeClock(new Date("2026-03-10T12:34:56Z"));
      const open = async () => {
        const kg = new KeyGuard({
          config: resolveConfig({ secretKey: SECRET, usage: { batchSize: 1000, ...usage } }, {}),
          store: await database.open(),
          clock,
        });
        cleanups.push(() => kg.close());
        await kg.init();
        return kg;
      };
      const kg = await open();
      await kg.createOrganization("Acme Corp");
      const keys: string[] = [];
      for (const label of ["a", "b", "c", "d", "e", "f"]) {
        keys.push((await kg.createApiKey({ organization: "Acme Corp", label })).key.id);
      }
      // SQLite: stores of one process share the file's one write lock, and a store waiting
      // for it blocks the thread (busy_timeout), so there "at once" means one after another.
      const together = <T>(tasks: Array<() => Promise<T>>): Promise<T[]> =>
        database.sharedWriteLock
          ? tasks.reduce(
              async (done, task) => [...(await done), await task()],
              Promise.resolve([] as T[]),
            )
          : Promise.all(tasks.map((task) => task()));
      return { kg, clock, keys, openAnother: open, together };
    }

    const event = (keyId: string, at: Date, statusCode = 200, extra: Partial<UsageEvent> = {}) =>
      ({
        keyId,
        path: "/api/data",
        method: "GET",
        statusCode,
        latencyMs: 3,
        ipAddress: "203.0.113.7",
        timestamp: at,
        ...extra,
      }) satisfies UsageEvent;

    it("writes a batch sent twice with the same ids once", async () => {
      const { kg, clock, keys } = await setup();
      const [a, b] = keys as [string, string];
      const at = new Date(clock.now() - 60_000);
      const batch = [
        event(a, at, 200, { id: timeOrderedId(at.getTime()), requestCount: 7 }),
        event(b, at, 500, { id: timeOrderedId(at.getTime()), requestCount: 3 }),
      ];
      await kg.store.insertUsageEvents(batch);
      // The retry after a lost reply, and a later batch holding those rows again plus a new one.
      await kg.store.insertUsageEvents(batch);
      await kg.store.insertUsageEvents([
        ...batch,
        event(a, at, 200, { id: timeOrderedId(at.getTime()), requestCount: 5 }),
      ]);
      expect(await kg.stats()).toMatchObject({ totalRequests: 15, errorRate: 0.2 });
      expect(await kg.store.countAllowedRequests(a, new Date(at.getTime() - 1))).toBe(12);
      expect((await kg.getApiKey(a)).lastUsedAt).toEqual(at);
    });

    it("counts only requests charged to the quota, whatever their status", async () => {
      const { kg, clock, keys } = await setup();
      const a = keys[0] as string;
      const at = new Date(clock.now() - 60_000);
      await kg.store.insertUsageEvents([
        event(a, at, 200, { charged: true, requestCount: 5 }),
        // Refused by KeyGuard: IP-blocked and rate-limited requests of a valid key.
        event(a, at, 403, { charged: false, requestCount: 4 }),
        event(a, at, 429, { charged: false, requestCount: 2 }),
        // Let through, and the application itself answered 429 or 403.
        event(a, at, 429, { charged: true, requestCount: 3 }),
        event(a, at, 403, { charged: true, requestCount: 6 }),
        // Recorded without the flag: every status but 429 counts.
        event(a, at, 200, { requestCount: 1 }),
        event(a, at, 429, { requestCount: 8 }),
      ]);
      const monthStart = new Date("2026-03-01T00:00:00Z");
      expect(await kg.store.countAllowedRequests(a, monthStart)).toBe(15);
      expect((await kg.stats()).totalRequests).toBe(29);
      clock.advance(3 * DAY_MS);
      await kg.maintainUsage();
      expect(await kg.store.countAllowedRequests(a, monthStart)).toBe(15);
    });

    it("gives the same stats, hourly usage and quota counts before and after rollups and deletion", async () => {
      const { kg, clock, keys } = await setup({
        rollupAfterHours: 24,
        retentionDays: 2,
        rollupRetentionDays: 32,
        maintenanceBatchSize: 17, // many steps
      });
      const [a, b] = keys as [string, string];
      const statuses = [200, 201, 302, 404, 429, 500, 503, 101];
      const now = clock.now();
      // Nearly six days of traffic, many clients, every status class.
      for (let i = 0; i < 400; i++) {
        kg.recordUsage({
          ...event(i % 3 === 0 ? b : a, new Date(now - i * 21 * 60_000 - (i % 5) * 1000)),
          statusCode: statuses[i % statuses.length] as number,
          ipAddress: `198.51.100.${i % 200}`,
          charged: i % 4 !== 0,
          requestCount: 1 + (i % 3),
        });
      }
      await kg.flushUsage();
      const read = async () => ({
        stats: await kg.stats(),
        usageA: await kg.usage(a, { since: new Date("2026-03-03T07:20:00Z") }),
        usageB: await kg.usage(b, { since: new Date("2026-02-28T00:00:00Z") }),
        quotaA: await kg.store.countAllowedRequests(a, new Date("2026-03-01T00:00:00Z")),
        quotaB: await kg.store.countAllowedRequests(b, new Date("2026-03-01T00:00:00Z")),
        sinceHour: await kg.store.countAllowedRequests(a, new Date("2026-03-08T05:00:00Z")),
        overview: await kg.usageOverview({ since: new Date("2026-03-04T07:20:00Z") }),
      });
      const before = await read();
      expect(before.stats.totalRequests).toBe(799);
      expect(before.quotaA).toBeGreaterThan(0);

      const done = await kg.maintainUsage();
      expect(done.rolledUp).toBeGreaterThan(17);
      expect(done.deletedRows).toBeGreaterThan(17);
      expect(await read()).toEqual(before);

      // A row arriving late for an hour already rolled up (a replayed spool, say) is
      // counted as a row, then added to its hour's rollup.
      const late = new Date("2026-03-06T10:15:00Z");
      await kg.store.insertUsageEvents([event(a, late, 200, { charged: true, requestCount: 4 })]);
      const withLate = await read();
      expect(withLate.stats.totalRequests).toBe(803);
      expect(withLate.quotaA).toBe(before.quotaA + 4);
      expect((await kg.maintainUsage()).rolledUp).toBe(1);
      expect(await read()).toEqual(withLate);

      // Past the rollups' own retention, everything is gone.
      clock.advance(40 * DAY_MS);
      expect((await kg.maintainUsage()).deletedRollups).toBeGreaterThan(0);
      expect((await kg.stats()).totalRequests).toBe(0);
      expect(await kg.maintainUsage()).toEqual({ rolledUp: 0, deletedRows: 0, deletedRollups: 0 });
    });

    it("gives every key's usage by hour and class, and the busiest keys first", async () => {
      const { kg, clock, keys } = await setup();
      const [a, b, c] = keys as [string, string, string];
      const now = clock.now(); // 2026-03-10T12:34:56Z
      const at = (hoursAgo: number) => new Date(now - hoursAgo * HOUR_MS);
      for (const [key, hoursAgo, status, requestCount] of [
        [a, 0, 200, 3],
        [a, 0, 429, 1],
        [b, 1, 500, 2],
        [b, 1, 404, 1],
        [c, 30, 200, 9], // before the report starts
      ] as const) {
        kg.recordUsage(event(key, at(hoursAgo), status, { requestCount }));
      }
      await kg.flushUsage();
      const overview = await kg.usageOverview({ since: at(2) });
      expect(overview.hours.map((hour) => hour.hour.toISOString())).toEqual([
        "2026-03-10T10:00:00.000Z",
        "2026-03-10T11:00:00.000Z",
        "2026-03-10T12:00:00.000Z",
      ]);
      expect(overview.hours.map(({ hour: _, ...counts }) => counts)).toEqual([
        { total: 0, status2xx: 0, status3xx: 0, status4xx: 0, status429: 0, status5xx: 0 },
        { total: 3, status2xx: 0, status3xx: 0, status4xx: 1, status429: 0, status5xx: 2 },
        { total: 4, status2xx: 3, status3xx: 0, status4xx: 1, status429: 1, status5xx: 0 },
      ]);
      expect(overview.topKeys.map(({ key, requests }) => [key.id, key.label, requests])).toEqual([
        [a, "a", 4],
        [b, "b", 3],
      ]);
      await expect(kg.usageOverview({ since: new Date(now + 60_000) })).rejects.toMatchObject({
        code: "invalid_input",
      });
      await expect(kg.usageOverview({ since: at(367 * 24) })).rejects.toMatchObject({
        code: "invalid_input",
      });
    });

    it("rolls up from several processes at once, each row counted once", async () => {
      const { kg, clock, keys, openAnother, together } = await setup({
        maintenanceBatchSize: 25,
      });
      const others = [await openAnother(), await openAnother()];
      const now = clock.now();
      for (let i = 0; i < 600; i++) {
        kg.recordUsage({
          ...event(keys[i % keys.length] as string, new Date(now - 2 * DAY_MS - i * 60_000)),
          ipAddress: `192.0.2.${i % 250}`,
          statusCode: i % 9 === 0 ? 429 : 200,
          charged: i % 9 !== 0,
        });
      }
      await kg.flushUsage();
      const before = await kg.stats();
      const quota = await kg.store.countAllowedRequests(
        keys[0] as string,
        new Date("2026-03-01T00:00:00Z"),
      );
      const passes = await together([kg, ...others].map((k) => () => k.maintainUsage()));
      expect(passes.reduce((sum, pass) => sum + pass.rolledUp, 0)).toBe(600);
      expect(await kg.stats()).toEqual(before);
      expect(
        await kg.store.countAllowedRequests(keys[0] as string, new Date("2026-03-01T00:00:00Z")),
      ).toBe(quota);
    });

    it("lets three writers with overlapping keys write at once without a deadlock", async () => {
      const { kg, clock, keys, openAnother, together } = await setup();
      const writers = [kg, await openAnother(), await openAnother()];
      const batches = 25;
      const failures: unknown[] = [];
      await together(
        writers.map((writer, w) => async () => {
          // Each writer meets the keys in its own order: unsorted updates would lock
          // api_keys rows in opposite orders and deadlock.
          const order =
            w === 1 ? [...keys].reverse() : keys.map((_, i) => keys[(i + w * 2) % keys.length]);
          for (let n = 0; n < batches; n++) {
            const at = clock.now() - 1000 * (n + 1);
            const batch = order.map((key, i) =>
              event(key as string, new Date(at - i), 200, {
                id: timeOrderedId(at),
                requestCount: 2,
              }),
            );
            await writer.store.insertUsageEvents(batch).catch((error: unknown) => {
              failures.push(error);
            });
          }
        }),
      );
      expect(failures.map(String)).toEqual([]);
      expect((await kg.stats()).totalRequests).toBe(writers.length * batches * keys.length * 2);
    });
  });
}
