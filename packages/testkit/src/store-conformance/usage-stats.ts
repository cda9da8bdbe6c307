import type { UsageEvent } from "@keyguard/core";
import { describe, expect, it } from "vitest";
import { type CreateDatabase, storeHarness } from "./support.js";

/** Usage written in batches and read back per key and hour, and keyguard-python's statistics. */
export function describeUsageAndStats(createDatabase: CreateDatabase): void {
  describe("usage and stats", () => {
    const { setup } = storeHarness(createDatabase);
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

    it("reports keyguard-python's statistics", async () => {
      const { kg, clock } = await setup();
      expect(await kg.stats()).toEqual({
        organizations: 0,
        totalKeys: 0,
        activeKeys: 0,
        totalRequests: 0,
        requestsLastHour: 0,
        errorRate: 0,
        legacyHashKeys: 0,
        previousSecretKeys: 0,
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
        previousSecretKeys: 0,
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
}
