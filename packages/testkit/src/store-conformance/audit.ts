import {
  isKeyGuardError,
  KeyGuard,
  type KeyGuardConfigInput,
  type KeyGuardEvent,
  resolveConfig,
  type Store,
} from "@keyguard/core";
import { type ApiKey, createKeyHasher } from "@keyguard/core/internal";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../fake-clock.js";
import type { TestDatabase } from "./support.js";

const SECRET = "conformance-secret-0123456789";
const DAY_MS = 24 * 3_600_000;
/** Racing calls, spread over this many KeyGuards (stores, connections) on one database. */
const RACERS = 5;
const CALLS = 20;

/** The code of a KeyGuard refusal; anything else (a crash, a driver error) fails the test. */
function codeOf(error: unknown): string {
  if (isKeyGuardError(error)) return error.code;
  throw error;
}

const outcome = (promise: Promise<unknown>) => promise.then(() => "ok", codeOf);

function tally(outcomes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

const actions = (events: readonly KeyGuardEvent[]) => events.map((event) => event.action);

/**
 * The audit log every Store keeps (called by `describeStoreConformance`): each change
 * through the service writes exactly one event in its own transaction, a refused change
 * none; a change and its event commit or roll back together; races leave one event;
 * listings filter and page in id order; retention deletes only old events; and no raw
 * key, hash or secret reaches an audit row.
 */
export function describeAuditConformance(createDatabase: () => Promise<TestDatabase>): void {
  describe("audit log: one event per change, in the change's transaction", () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(config: Partial<KeyGuardConfigInput> = {}) {
      const database = await createDatabase();
      cleanups.push(() => database.dispose());
      const clock = new FakeClock(new Date("2026-03-10T12:00:00Z"));
      const open = async () => {
        const store = await database.open();
        const kg = new KeyGuard({
          config: resolveConfig({ secretKey: SECRET, ...config }, {}),
          store,
          clock,
        });
        cleanups.push(() => kg.close());
        await kg.init();
        return { kg, store };
      };
      const first = await open();
      return { ...first, clock, database, openAnother: open };
    }

    it("writes one event per change with actor, target and the changed fields", async () => {
      const { kg } = await setup();
      const heard: KeyGuardEvent[] = [];
      kg.events.subscribe((event) => heard.push(event));
      const acme = await kg.createOrganization("Acme Corp");
      const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
      await kg.withActor("billing-job").updateApiKey(key.id, { label: "prod-2", monthlyLimit: 9 });
      const rotated = await kg.rotateApiKey(key.id, { gracePeriodMs: 60_000 });
      await kg.revokeApiKey(rotated.key.id);
      await kg.suspendOrganization("Acme Corp");
      await kg.reactivateOrganization(acme.id);
      await kg.blockIp("203.0.113.7", { duration: "1h", reason: "abuse" });
      await kg.unblockIp("203.0.113.7");
      await kg.blockAutomatically({
        client: "198.51.100.4",
        scope: "global",
        untilMs: Date.UTC(2026, 2, 11),
        reason: "auth_failures",
      });

      const events = await kg.listAuditEvents();
      expect(actions(events)).toEqual([
        "organization.created",
        "key.created",
        "key.updated",
        "key.rotated",
        "key.revoked",
        "organization.suspended",
        "organization.activated",
        "ip_block.created",
        "ip_block.lifted",
        "ip.auto_blocked",
      ]);
      // Subscribers heard the same events, in the same order, after each commit.
      expect(heard.map((event) => event.id)).toEqual(events.map((event) => event.id));
      expect(events.map((event) => event.id)).toEqual(events.map((event) => event.id).sort());
      const [orgCreated, keyCreated, updated, rotation, revoked, suspended] = events;
      expect(orgCreated).toMatchObject({
        actor: { type: "code", name: null },
        targetType: "organization",
        targetId: acme.id,
        changes: { before: {}, after: { name: "Acme Corp", status: "active" } },
      });
      expect(orgCreated?.at).toEqual(new Date("2026-03-10T12:00:00Z"));
      expect(keyCreated).toMatchObject({
        targetType: "key",
        targetId: key.id,
        changes: { before: {}, after: { label: "prod", prefix: key.prefix, is_active: true } },
      });
      expect(updated).toMatchObject({
        actor: { type: "code", name: "billing-job" },
        changes: {
          before: { label: "prod", monthly_limit: null },
          after: { label: "prod-2", monthly_limit: 9 },
        },
      });
      expect(Object.keys(updated?.changes.after ?? {}).sort()).toEqual(["label", "monthly_limit"]);
      expect(rotation).toMatchObject({
        targetId: key.id,
        changes: {
          before: { replaced_by: null, expires_at: null },
          after: {
            replaced_by: rotated.key.id,
            expires_at: "2026-03-10T12:01:00.000Z",
            successor_prefix: rotated.key.prefix,
          },
        },
      });
      expect(revoked).toMatchObject({
        targetId: rotated.key.id,
        changes: { before: { is_active: true }, after: { is_active: false } },
      });
      expect(suspended?.changes).toEqual({
        before: { status: "active" },
        after: { status: "suspended" },
      });
      expect(events[7]).toMatchObject({
        targetType: "ip",
        targetId: "203.0.113.7",
        changes: { after: { scope: "global", reason: "abuse" } },
      });
      expect(events[8]?.changes.before).toMatchObject({ blocks: 1, reason: "abuse" });
      expect(events[9]).toMatchObject({
        actor: { type: "code", name: "keyguard" },
        targetId: "198.51.100.4",
        changes: { after: { reason: "auth_failures" } },
      });
    });

    it("writes nothing for a refused change, a change of nothing, or a failed validation", async () => {
      const { kg } = await setup();
      await kg.createOrganization("Acme Corp");
      const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
      const heard: KeyGuardEvent[] = [];
      kg.events.subscribe((event) => heard.push(event));
      const before = await kg.listAuditEvents();
      expect(before).toHaveLength(2);

      const refusals = await Promise.all([
        outcome(kg.createOrganization("Acme Corp")),
        outcome(kg.createOrganization("")),
        outcome(kg.createApiKey({ organization: "Nobody", label: "x" })),
        outcome(kg.createApiKey({ organization: "Acme Corp", label: "x", rateLimitPerMinute: -1 })),
        outcome(kg.updateApiKey("kg_live_nope", { label: "x" })),
        outcome(kg.reactivateOrganization("Acme Corp")), // active already
        outcome(kg.unblockIp("192.0.2.1")), // nothing to lift
        outcome(kg.blockIp("not-an-ip")),
      ]);
      expect(refusals).toEqual([
        "organization_exists",
        "invalid_input",
        "organization_not_found",
        "invalid_input",
        "api_key_not_found",
        "ok",
        "ok",
        "invalid_input",
      ]);
      await kg.updateApiKey(key.id, { label: "prod" }); // sets what is there: no change
      await kg.revokeApiKey(key.id);
      expect(await outcome(kg.revokeApiKey(key.id))).toBe("ok"); // already revoked: no change
      expect(await outcome(kg.updateApiKey(key.id, { label: "y" }))).toBe("conflict");
      expect(await outcome(kg.rotateApiKey(key.id))).toBe("conflict");

      const after = await kg.listAuditEvents();
      expect(actions(after)).toEqual(["organization.created", "key.created", "key.revoked"]);
      expect(heard.map((event) => event.action)).toEqual(["key.revoked"]);
    });

    it("commits a change and its event together, or neither", async () => {
      const { kg, store } = await setup();
      const acme = await kg.createOrganization("Acme Corp");
      const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
      const [existing] = await kg.listAuditEvents();
      if (existing === undefined) throw new Error("no event");
      // An event the database refuses (its id is taken): the change must not stay either.
      const clash = () => ({ ...existing });
      const fails = async (change: Promise<unknown>) => {
        const error = await change.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, "the change should have failed with its event").toBeDefined();
      };
      await fails(
        store.insertOrganization(
          { id: crypto.randomUUID(), name: "Ghost", status: "active", createdAt: new Date() },
          clash,
        ),
      );
      expect(await store.findOrganizationByName("Ghost")).toBeUndefined();
      await fails(store.updateOrganizationStatus(acme.id, "suspended", clash));
      expect((await kg.getOrganization(acme.id)).status).toBe("active");
      await fails(store.updateApiKey(key.id, { label: "changed" }, clash));
      expect((await kg.getApiKey(key.id)).label).toBe("prod");
      await fails(store.revokeApiKey(key.id, clash));
      expect((await kg.getApiKey(key.id)).isActive).toBe(true);
      const now = new Date("2026-03-10T12:00:00Z");
      await fails(
        store.rotateApiKey(
          {
            previousId: key.id,
            successor: {
              id: crypto.randomUUID(),
              prefix: "kg_live_Zzzz",
              keyHash: "h".repeat(64),
              createdAt: now,
            },
            now,
          },
          clash,
        ),
      );
      expect(await kg.getApiKey(key.id)).toMatchObject({ isActive: true, replacedBy: null });
      expect(await kg.listApiKeys()).toHaveLength(1);
      const block = {
        client: "192.0.2.9",
        scope: "global" as const,
        untilMs: Date.UTC(2027, 0, 1),
        reason: "x",
      };
      await fails(store.insertIpBlock(block, clash));
      expect(await store.listIpBlocks(now)).toEqual([]);
      await store.insertIpBlock(block);
      await fails(store.deleteIpBlocks(block.client, clash));
      expect(await store.listIpBlocks(now)).toHaveLength(1);
      // A record that throws rolls the change back as well.
      await fails(
        store.insertApiKey(
          {
            ...((await store.findApiKeyById(key.id)) as ApiKey),
            id: crypto.randomUUID(),
            keyHash: "k".repeat(64),
            prefix: "kg_live_Yyyy",
          },
          () => {
            throw new Error("record failed");
          },
        ),
      );
      expect(await kg.listApiKeys()).toHaveLength(1);
      // And nothing but the two real events is in the log.
      expect(actions(await kg.listAuditEvents())).toEqual(["organization.created", "key.created"]);
    });

    it("writes one event per IP rule added or removed, none for a re-add, a conflict or a miss", async () => {
      const { kg, store, clock, openAnother } = await setup();
      const heard: KeyGuardEvent[] = [];
      kg.events.subscribe((event) => heard.push(event));
      const office = await kg
        .withActor("ops-job")
        .addIpRule({ cidr: "10.1.2.3/16", action: "allow", reason: "office" });
      expect(office.created).toBe(true);
      const deny = await kg.addIpRule({ cidr: "198.51.100.0/24", action: "deny" });
      // Refused or no-op: the same rule again, the same range with the other action, a
      // rule that is not there, a malformed range.
      expect(
        (await kg.addIpRule({ cidr: "10.1.0.0/16", action: "allow", reason: "other" })).created,
      ).toBe(false);
      expect(await outcome(kg.addIpRule({ cidr: "10.1.0.0/16", action: "deny" }))).toBe("conflict");
      expect(await outcome(kg.removeIpRule(crypto.randomUUID()))).toBe("not_found");
      expect(await outcome(kg.addIpRule({ cidr: "10.1.0.0/33", action: "deny" }))).toBe(
        "invalid_input",
      );
      clock.advance(1);
      await kg.removeIpRule(deny.rule.id as string);
      expect(await outcome(kg.removeIpRule(deny.rule.id as string))).toBe("not_found");

      const events = await kg.listAuditEvents({ action: ["ip_rule.created", "ip_rule.removed"] });
      expect(events).toHaveLength(3);
      expect(events[0]).toMatchObject({
        actor: { type: "code", name: "ops-job" },
        action: "ip_rule.created",
        targetType: "ip_rule",
        targetId: office.rule.id,
        changes: { before: {}, after: { cidr: "10.1.0.0/16", action: "allow", reason: "office" } },
      });
      expect(events[1]).toMatchObject({
        actor: { type: "code", name: null },
        targetId: deny.rule.id,
        changes: { after: { cidr: "198.51.100.0/24", action: "deny", reason: null } },
      });
      expect(events[2]).toMatchObject({
        action: "ip_rule.removed",
        targetType: "ip_rule",
        targetId: deny.rule.id,
        changes: { before: { cidr: "198.51.100.0/24", action: "deny", reason: null }, after: {} },
      });
      expect(heard.map((event) => event.id)).toEqual(events.map((event) => event.id));
      expect((await kg.listAuditEvents({ targetId: office.rule.id as string })).length).toBe(1);

      // Racing on one database: one rule added and one removed, so one event of each.
      const all = [kg];
      for (let i = 1; i < RACERS; i++) all.push((await openAnother()).kg);
      const racers = (i: number) => all[i % RACERS] as KeyGuard;
      clock.advance(1);
      const adds = await Promise.all(
        Array.from({ length: CALLS }, (_, i) =>
          racers(i).addIpRule({ cidr: "192.0.2.0/24", action: "deny" }),
        ),
      );
      expect(adds.filter((add) => add.created)).toHaveLength(1);
      const raced = adds[0]?.rule.id as string;
      clock.advance(1);
      expect(
        tally(
          await Promise.all(
            Array.from({ length: CALLS }, (_, i) => outcome(racers(i).removeIpRule(raced))),
          ),
        ),
      ).toEqual({ ok: 1, not_found: CALLS - 1 });
      const racedEvents = await kg.listAuditEvents({ targetId: raced });
      expect(actions(racedEvents)).toEqual(["ip_rule.created", "ip_rule.removed"]);

      // A rule change and its event commit together, or neither.
      const [existing] = events;
      if (existing === undefined) throw new Error("no event");
      const clash = () => ({ ...existing });
      const rule = {
        id: crypto.randomUUID(),
        cidr: "203.0.113.0/24",
        action: "deny" as const,
        reason: null,
        createdAt: new Date(clock.now()),
      };
      const insert = store.insertIpRule?.bind(store);
      const remove = store.deleteIpRule?.bind(store);
      if (insert === undefined || remove === undefined) throw new Error("no IP rule store");
      const failure = (change: Promise<unknown>) =>
        change.then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(await failure(insert(rule, undefined, clash))).toBeDefined();
      expect((await kg.listIpRules()).map((stored) => stored.cidr)).toEqual(["10.1.0.0/16"]);
      expect(await failure(remove(office.rule.id as string, clash))).toBeDefined();
      expect((await kg.listIpRules()).map((stored) => stored.cidr)).toEqual(["10.1.0.0/16"]);
      expect(
        await failure(
          remove(office.rule.id as string, () => {
            throw new Error("record failed");
          }),
        ),
      ).toBeDefined();
      expect((await kg.listIpRules()).map((stored) => stored.id)).toEqual([office.rule.id]);
      expect(
        await kg.listAuditEvents({ action: ["ip_rule.created", "ip_rule.removed"] }),
      ).toHaveLength(5);
    });

    it(`${CALLS} rotations (and revocations, suspensions) racing leave exactly one event each`, async () => {
      const { kg, clock, openAnother } = await setup();
      const all = [kg];
      for (let i = 1; i < RACERS; i++) all.push((await openAnother()).kg);
      await kg.createOrganization("Acme Corp");
      const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
      const racers = (i: number) => all[i % RACERS] as KeyGuard;
      // Each race a millisecond later: ids of different processes are ordered by time only.
      const race = (call: (kg: KeyGuard) => Promise<unknown>) => {
        clock.advance(1);
        return Promise.all(Array.from({ length: CALLS }, (_, i) => outcome(call(racers(i)))));
      };

      expect(tally(await race((k) => k.rotateApiKey(key.id)))).toEqual({
        ok: 1,
        key_already_rotated: CALLS - 1,
      });
      const successor = (await kg.getApiKey(key.id)).replacedBy as string;
      await race((k) => k.revokeApiKey(successor));
      await race((k) => k.suspendOrganization("Acme Corp"));
      const events = await kg.listAuditEvents();
      expect(actions(events)).toEqual([
        "organization.created",
        "key.created",
        "key.rotated",
        "key.revoked",
        "organization.suspended",
      ]);
      expect(events[2]?.changes.after).toMatchObject({ replaced_by: successor });
    });

    it("lists in id order, filtered by action, target and time, a page at a time", async () => {
      const { kg, clock } = await setup();
      const acme = await kg.createOrganization("Acme Corp");
      clock.advance(60_000);
      const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "a" });
      clock.advance(60_000);
      const middle = new Date(clock.now());
      await kg.updateApiKey(key.id, { label: "b" });
      clock.advance(60_000);
      await kg.updateApiKey(key.id, { label: "c" });
      clock.advance(60_000);
      await kg.revokeApiKey(key.id);
      const everything = await kg.listAuditEvents();
      expect(everything).toHaveLength(5);

      expect(actions(await kg.listAuditEvents({ action: "key.updated" }))).toEqual([
        "key.updated",
        "key.updated",
      ]);
      expect(
        actions(await kg.listAuditEvents({ action: ["key.revoked", "organization.created"] })),
      ).toEqual(["organization.created", "key.revoked"]);
      expect((await kg.listAuditEvents({ targetId: acme.id })).map((e) => e.action)).toEqual([
        "organization.created",
      ]);
      expect(await kg.listAuditEvents({ targetId: key.id })).toHaveLength(4);
      expect(actions(await kg.listAuditEvents({ since: middle }))).toEqual([
        "key.updated",
        "key.updated",
        "key.revoked",
      ]);
      expect(actions(await kg.listAuditEvents({ until: middle }))).toEqual([
        "organization.created",
        "key.created",
      ]);
      // Pages continue after the last id read, and together are the whole log.
      const pages: KeyGuardEvent[][] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await kg.listAuditEvents({ limit: 2, ...(afterId ? { afterId } : {}) });
        if (page.length === 0) break;
        pages.push(page);
        afterId = page.at(-1)?.id;
      }
      expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
      expect(pages.flat().map((e) => e.id)).toEqual(everything.map((e) => e.id));
      // Filters combine with the cursor.
      const [firstUpdate] = await kg.listAuditEvents({ action: "key.updated", limit: 1 });
      expect(
        await kg.listAuditEvents({ action: "key.updated", afterId: firstUpdate?.id as string }),
      ).toHaveLength(1);

      for (const bad of [
        { action: "key.exploded" as never },
        { limit: 0 },
        { limit: 1.5 },
        { since: new Date(Number.NaN) },
        { targetId: "x".repeat(201) },
        { targetId: "a\u0000b" },
      ]) {
        expect(await outcome(kg.listAuditEvents(bad)), JSON.stringify(bad)).toBe("invalid_input");
      }
    });

    it("another process reads the events a process wrote, after a cursor", async () => {
      const { kg, openAnother } = await setup();
      const other = await openAnother();
      await kg.createOrganization("Acme Corp");
      const [first] = await other.kg.listAuditEvents();
      await kg.createOrganization("Dev Team");
      const next = await other.store.listAuditEvents({ afterId: first?.id as string, limit: 10 });
      expect(next.map((e) => e.changes.after.name)).toEqual(["Dev Team"]);
    });

    it("deletes events older than audit.retentionDays, and only those", async () => {
      const { kg, clock } = await setup({ audit: { retentionDays: 30 } });
      await kg.createOrganization("Old");
      clock.advance(20 * DAY_MS);
      await kg.createOrganization("Newer");
      clock.advance(11 * DAY_MS); // "Old" is 31 days old, "Newer" 11
      expect(await kg.maintainAuditLog()).toBe(1);
      expect((await kg.listAuditEvents()).map((e) => e.changes.after.name)).toEqual(["Newer"]);
      expect(await kg.maintainAuditLog()).toBe(0);
    });

    it("never stores a raw key, a key hash or the secret in an audit row", async () => {
      const { kg, store } = await setup();
      const hash = createKeyHasher(SECRET, 10);
      await kg.createOrganization("Acme Corp");
      const created = await kg.createApiKey({ organization: "Acme Corp", label: "prod" });
      await kg.updateApiKey(created.key.id, { scopes: ["read"], label: "renamed" });
      const rotated = await kg.rotateApiKey(created.key.id, { gracePeriodMs: 1_000 });
      const again = await kg.rotateApiKey(rotated.key.id);
      await kg.revokeApiKey(again.key.id);
      const secrets = [created, rotated, again].flatMap(({ rawKey }) => [
        rawKey,
        rawKey.slice(12, 40),
        hash(rawKey),
      ]);
      secrets.push(SECRET);
      const stored = await Promise.all(
        [created.key.id, rotated.key.id, again.key.id].map((id) => store.findApiKeyById(id)),
      );
      for (const key of stored) secrets.push(key?.keyHash as string);
      const rows = JSON.stringify(await store.listAuditEvents());
      expect(rows).toContain("renamed"); // the rows are there...
      for (const secret of secrets) expect(rows).not.toContain(secret); // ...without these
    });

    it("a listener that throws neither fails the change nor stops the others", async () => {
      const errors: unknown[] = [];
      const database = await createDatabase();
      cleanups.push(() => database.dispose());
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET }, {}),
        store: (await database.open()) as Store,
        onBackgroundError: (error) => errors.push(error),
      });
      cleanups.push(() => kg.close());
      await kg.init();
      const heard: string[] = [];
      kg.events.subscribe(() => {
        throw new Error("listener broke");
      });
      const stop = kg.events.subscribe((event) => heard.push(event.action));
      await kg.createOrganization("Acme Corp");
      stop();
      await kg.createOrganization("Dev Team");
      expect(heard).toEqual(["organization.created"]);
      // Reported (the first at once; repeats of one kind are counted, not each logged).
      expect((errors[0] as Error | undefined)?.message).toBe("listener broke");
      expect(await kg.listAuditEvents()).toHaveLength(2);
    });
  });
}
