import { isKeyGuardError, type KeyGuard, type UsageEvent } from "@keyguard/core";
import { describe, expect, it } from "vitest";
import type { FakeClock } from "../fake-clock.js";

/** What the races need from the store suite's set-up: a KeyGuard, and more on one database. */
export type RaceSetup = () => Promise<{
  readonly kg: KeyGuard;
  readonly clock: FakeClock;
  /** Another KeyGuard with a store of its own on the same database, like another process. */
  readonly openAnother: () => Promise<{ readonly kg: KeyGuard }>;
}>;

/** Calls racing for one key: spread over this many KeyGuards (stores, connections). */
const RACERS = 5;
const CALLS = 50;

/** The code of a KeyGuard refusal; anything else (a crash, a driver error) fails the test. */
function codeOf(error: unknown): string {
  if (isKeyGuardError(error)) return error.code;
  throw error;
}

/** The code an operation was refused with, or "ok". */
function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => "ok", codeOf);
}

function tally(outcomes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

/**
 * The store decides races (a capability of the store suite): rotations, revocations,
 * updates and status changes are conditional writes, so of calls racing from several
 * stores on one database (separate connections, as separate processes would have) exactly
 * one changes a key's state, and the rest are told what state they found. Also the rotation
 * lineage: a successor spends its predecessor's monthly quota.
 */
export function describeStoreRaces(setup: RaceSetup): void {
  describe("races decided by the database", () => {
    async function racers() {
      const first = await setup();
      const all = [first.kg];
      for (let i = 1; i < RACERS; i++) all.push((await first.openAnother()).kg);
      await first.kg.createOrganization("Acme Corp");
      const created = await first.kg.createApiKey({
        organization: "Acme Corp",
        label: "prod",
        rateLimitPerMinute: 7,
        monthlyLimit: 10,
        scopes: ["read"],
      });
      return { ...first, all, created };
    }

    it(`${CALLS} rotations of one key at once give one successor; the others are key_already_rotated`, async () => {
      const { kg, all, created } = await racers();
      const results = await Promise.all(
        Array.from({ length: CALLS }, (_, i) =>
          (all[i % RACERS] as KeyGuard).rotateApiKey(created.key.id).then(
            (rotated) => ({ rotated, code: "ok" }),
            (error: unknown) => ({ rotated: undefined, code: codeOf(error) }),
          ),
        ),
      );
      expect(tally(results.map((r) => r.code))).toEqual({ ok: 1, key_already_rotated: CALLS - 1 });
      const winner = results.find((r) => r.rotated !== undefined)?.rotated;
      expect(winner).toBeDefined();
      const keys = await kg.listApiKeys();
      expect(keys.map((k) => k.id).sort()).toEqual([created.key.id, winner?.key.id].sort());
      const previous = await kg.getApiKey(created.key.id);
      expect(previous).toMatchObject({ isActive: false, replacedBy: winner?.key.id });
      expect(winner?.key).toMatchObject({
        label: "prod",
        rateLimitPerMinute: 7,
        monthlyLimit: 10,
        scopes: ["read"],
        isActive: true,
        quotaId: created.key.id,
        replacedBy: null,
      });
      expect((await kg.verifyKey(created.rawKey)).outcome).toBe("revoked");
      expect((await kg.verifyKey(winner?.rawKey ?? "")).outcome).toBe("valid");
    });

    it(`${CALLS} rotations with a grace period at once: still one successor, the old key working until then`, async () => {
      const { kg, all, created, clock } = await racers();
      const codes = await Promise.all(
        Array.from({ length: CALLS }, (_, i) =>
          outcome(
            (all[i % RACERS] as KeyGuard).rotateApiKey(created.key.id, { gracePeriodMs: 60_000 }),
          ),
        ),
      );
      expect(tally(codes)).toEqual({ ok: 1, key_already_rotated: CALLS - 1 });
      expect(await kg.listApiKeys()).toHaveLength(2);
      expect((await kg.verifyKey(created.rawKey)).outcome).toBe("valid");
      clock.advance(60_000);
      expect((await kg.verifyKey(created.rawKey)).outcome).toBe("expired");
    });

    it(`${CALLS} revocations of one key at once: exactly one revokes, the others find it already revoked`, async () => {
      const { kg, all, created } = await racers();
      const outcomes = await Promise.all(
        Array.from({ length: CALLS }, (_, i) =>
          (all[i % RACERS] as KeyGuard).revokeApiKeyOutcome(created.key.id),
        ),
      );
      expect(outcomes.filter((o) => !o.alreadyRevoked)).toHaveLength(1);
      for (const o of outcomes) expect(o.key.isActive).toBe(false);
      expect((await kg.verifyKey(created.rawKey)).outcome).toBe("revoked");
    });

    it("rotations racing revocations: exactly one of them retires the key", async () => {
      const { kg, all, created } = await racers();
      const calls = Array.from({ length: CALLS }, (_, i) => {
        const racer = all[i % RACERS] as KeyGuard;
        return i % 2 === 0
          ? outcome(racer.rotateApiKey(created.key.id)).then((code) => `rotate:${code}`)
          : racer.revokeApiKeyOutcome(created.key.id).then((o) => `revoke:${o.alreadyRevoked}`);
      });
      const counts = tally(await Promise.all(calls));
      // Without a grace period both take the key from active to revoked: one of them wins.
      expect((counts["rotate:ok"] ?? 0) + (counts["revoke:false"] ?? 0)).toBe(1);
      for (const label of Object.keys(counts)) {
        expect(label).toMatch(/^(rotate:(ok|key_already_rotated|conflict)|revoke:(true|false))$/);
      }
      const successors = (await kg.listApiKeys()).filter((k) => k.id !== created.key.id);
      expect(successors).toHaveLength(counts["rotate:ok"] ?? 0);
      expect((await kg.verifyKey(created.rawKey)).outcome).toBe("revoked");
    });

    it("updates racing a rotation are either in the successor or refused", async () => {
      const { kg, all, created } = await racers();
      const updates = Array.from({ length: 20 }, (_, i) =>
        outcome(
          (all[i % RACERS] as KeyGuard).updateApiKey(created.key.id, { label: `label-${i}` }),
        ).then((code) => ({ label: `label-${i}`, code })),
      );
      const rotation = (all[1] as KeyGuard).rotateApiKey(created.key.id);
      const [done, rotated] = await Promise.all([Promise.all(updates), rotation]);
      const applied = done.filter((u) => u.code === "ok").map((u) => u.label);
      for (const u of done) expect(u.code).toMatch(/^(ok|key_already_rotated)$/);
      // The successor copies the key as stored when the rotation was decided: the last
      // update before it (which one is the database's call), or the original label.
      expect(applied.length === 0 ? ["prod"] : applied).toContain(rotated.key.label);
      expect((await kg.getApiKey(rotated.key.id)).label).toBe(rotated.key.label);
    });

    it("refuses to rotate or change a rotated or revoked key, with the key's state", async () => {
      const { kg, created } = await racers();
      const rotated = await kg.rotateApiKey(created.key.id, { gracePeriodMs: 60_000 });
      await expect(kg.rotateApiKey(created.key.id)).rejects.toMatchObject({
        code: "key_already_rotated",
        message: expect.stringContaining(rotated.key.id),
      });
      await expect(kg.updateApiKey(created.key.id, { label: "x" })).rejects.toMatchObject({
        code: "key_already_rotated",
      });
      // Revoking a key in its grace period ends it early.
      expect((await kg.revokeApiKeyOutcome(created.key.id)).alreadyRevoked).toBe(false);
      await kg.revokeApiKey(rotated.key.id);
      await expect(kg.rotateApiKey(rotated.key.id)).rejects.toMatchObject({ code: "conflict" });
      await expect(kg.updateApiKey(rotated.key.id, { label: "x" })).rejects.toMatchObject({
        code: "conflict",
        message: expect.stringMatching(/revoked/),
      });
      expect(await kg.listApiKeys()).toHaveLength(2);
    });

    it("changes an organization's status once, however many callers race", async () => {
      const { kg, all } = await racers();
      const [org] = await kg.listOrganizations();
      const id = org?.id as string;
      const suspend = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (all[i % RACERS] as KeyGuard).store.updateOrganizationStatus(id, "suspended"),
        ),
      );
      expect(suspend.filter((r) => r?.changed)).toHaveLength(1);
      for (const r of suspend) expect(r?.organization.status).toBe("suspended");
      const answers = await Promise.all(all.map((racer) => racer.reactivateOrganization(id)));
      for (const a of answers) expect(a.status).toBe("active");
      expect(await kg.store.updateOrganizationStatus(id, "active")).toMatchObject({
        changed: false,
      });
      expect(
        await kg.store.updateOrganizationStatus("00000000-0000-4000-8000-000000000000", "active"),
      ).toBeUndefined();
    });

    it("lets a rotation lineage spend one quota: quota ids, and the keys used this month", async () => {
      const { kg, clock, created } = await racers();
      const event = (keyId: string, at: number, requestCount: number): UsageEvent => ({
        keyId,
        path: "/api/data",
        method: "GET",
        statusCode: 200,
        latencyMs: 1,
        ipAddress: "203.0.113.7",
        timestamp: new Date(at),
        requestCount,
      });
      const monthStart = new Date(Date.UTC(2026, 0, 1));
      const lastMonth = Date.UTC(2025, 11, 20);
      expect(created.key.quotaId).toBe(created.key.id);
      const other = await kg.createApiKey({ organization: "Acme Corp", label: "other" });
      await kg.store.insertUsageEvents([
        event(created.key.id, lastMonth, 50),
        event(created.key.id, clock.now() - 1000, 7),
        event(other.key.id, clock.now() - 1000, 4),
      ]);
      const second = await kg.rotateApiKey(created.key.id, { gracePeriodMs: 3_600_000 });
      expect(second.key.quotaId).toBe(created.key.id);
      const third = await kg.rotateApiKey(second.key.id);
      expect(third.key.quotaId).toBe(created.key.id);
      // Unused this month (the successors), or not of this lineage: not listed.
      expect(await kg.store.listQuotaKeyIds(created.key.id, monthStart)).toEqual([created.key.id]);
      await kg.store.insertUsageEvents([event(second.key.id, clock.now(), 2)]);
      const used = await kg.store.listQuotaKeyIds(created.key.id, monthStart);
      expect(used.sort()).toEqual([created.key.id, second.key.id].sort());
      const counts = await Promise.all(
        used.map((id) => kg.store.countAllowedRequests(id, monthStart)),
      );
      expect(counts.reduce((a, b) => a + b, 0)).toBe(9);
      expect(await kg.store.listQuotaKeyIds(other.key.id, monthStart)).toEqual([other.key.id]);
    });
  });
}
