import { describe, expect, it } from "vitest";
import {
  type AdminConformanceOptions,
  type Answer,
  adminHarness,
  type StartAdminApp,
} from "./admin-conformance-support.js";

const SECRET = "admin-audit-secret";
const THRESHOLD = 3;

/**
 * The audit log over real HTTP (a capability of the admin suite): every change made
 * through the admin API is an event attributed to `admin_api` and the client's address,
 * beside the application's own (`code`) changes; refused requests add none; `GET
 * /admin/audit` filters and pages like the other listings, and refuses bad filters with
 * a 400 problem.
 */
export function describeAdminAudit(start: StartAdminApp, options: AdminConformanceOptions): void {
  describe("the audit log over HTTP", () => {
    const { setup } = adminHarness(start, options, {
      secretKey: SECRET,
      ipBlockThreshold: THRESHOLD,
    });

    it("records every change through the API as admin_api with the client's address, and none for refusals", async () => {
      const { kg, call } = await setup();
      const org = await call("POST", "/admin/orgs", { name: "Acme Corp" });
      const created = await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "prod" });
      const id: string = created.body.id;
      expect((await call("PATCH", `/admin/keys/${id}`, { label: "prod-2" })).status).toBe(200);
      const rotated = await call("POST", `/admin/keys/${id}/rotate`);
      expect(rotated.status).toBe(201);
      await call("DELETE", `/admin/keys/${rotated.body.key.id}`);
      await call("DELETE", `/admin/keys/${rotated.body.key.id}`); // already revoked: no change
      await call("PATCH", `/admin/orgs/${org.body.id}`, { status: "suspended" });
      await call("POST", "/admin/ip-blocks", { ip: "203.0.113.5", duration: 600 });
      await call("DELETE", "/admin/ip-blocks/203.0.113.5");
      // Refused: 409, 404, 400, 401. None of them may add an event.
      expect((await call("POST", "/admin/orgs", { name: "Acme Corp" })).status).toBe(409);
      expect((await call("POST", `/admin/keys/${id}/rotate`)).status).toBe(409);
      expect(
        (await call("PATCH", `/admin/keys/${crypto.randomUUID()}`, { label: "x" })).status,
      ).toBe(404);
      expect((await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "" })).status).toBe(
        400,
      );
      expect((await call("DELETE", "/admin/ip-blocks/203.0.113.5")).status).toBe(404);
      expect(
        (await call("POST", "/admin/orgs", { name: "Evil" }, { "x-admin-key": "wrong-key" }))
          .status,
      ).toBe(401);
      // The application's own change, and one it names.
      await kg.createOrganization("Dev Team");
      await kg.withActor("billing-job").suspendOrganization("Dev Team");

      const audit = await call("GET", "/admin/audit");
      expect(audit.status).toBe(200);
      expect(audit.body.next_cursor).toBeNull();
      // biome-ignore lint/suspicious/noExplicitAny: events are checked field by field
      const items = audit.body.items as Array<Record<string, any>>;
      expect(items.map((event) => event.action)).toEqual([
        "organization.created",
        "key.created",
        "key.updated",
        "key.rotated",
        "key.revoked",
        "organization.suspended",
        "ip_block.created",
        "ip_block.lifted",
        "organization.created",
        "organization.suspended",
      ]);
      for (const event of items.slice(0, 8)) {
        expect(event.actor).toEqual({ type: "admin_api", name: "127.0.0.1" });
      }
      expect(items[8]?.actor).toEqual({ type: "code", name: null });
      expect(items[9]?.actor).toEqual({ type: "code", name: "billing-job" });
      expect(items[2]).toMatchObject({
        target_type: "key",
        target_id: id,
        changes: { before: { label: "prod" }, after: { label: "prod-2" } },
      });
      expect(items[0]?.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      // What was shown once is not in the log.
      expect(audit.text).not.toContain(created.body.raw_key);
      expect(audit.text).not.toContain(rotated.body.key.raw_key);
    });

    it("records IP rules added and removed through the API as admin_api, and none for a re-add, a conflict or a miss", async () => {
      const { kg, call } = await setup();
      const added = await call("POST", "/admin/ip-rules", {
        cidr: "198.51.100.7/24",
        action: "deny",
        reason: "scraper",
      });
      expect(added.status).toBe(201);
      const again = await call("POST", "/admin/ip-rules", {
        cidr: "198.51.100.0/24",
        action: "deny",
      });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(added.body.id);
      expect(
        (await call("POST", "/admin/ip-rules", { cidr: "198.51.100.0/24", action: "allow" }))
          .status,
      ).toBe(409);
      expect(
        (await call("POST", "/admin/ip-rules", { cidr: "198.51.100.0/33", action: "allow" }))
          .status,
      ).toBe(400);
      expect((await call("DELETE", `/admin/ip-rules/${crypto.randomUUID()}`)).status).toBe(404);
      expect((await call("DELETE", `/admin/ip-rules/${added.body.id}`)).status).toBe(200);
      expect((await call("DELETE", `/admin/ip-rules/${added.body.id}`)).status).toBe(404);
      // The application's own rule, under the name it gives.
      await kg.withActor("deploy-job").addIpRule({ cidr: "10.0.0.0/8", action: "allow" });

      const audit = await call("GET", "/admin/audit?action=ip_rule.created,ip_rule.removed");
      expect(audit.status).toBe(200);
      expect(audit.body.items).toEqual([
        expect.objectContaining({
          actor: { type: "admin_api", name: "127.0.0.1" },
          action: "ip_rule.created",
          target_type: "ip_rule",
          target_id: added.body.id,
          changes: {
            before: {},
            after: { cidr: "198.51.100.0/24", action: "deny", reason: "scraper" },
          },
        }),
        expect.objectContaining({
          actor: { type: "admin_api", name: "127.0.0.1" },
          action: "ip_rule.removed",
          target_type: "ip_rule",
          target_id: added.body.id,
          changes: {
            before: { cidr: "198.51.100.0/24", action: "deny", reason: "scraper" },
            after: {},
          },
        }),
        expect.objectContaining({
          actor: { type: "code", name: "deploy-job" },
          action: "ip_rule.created",
          changes: { before: {}, after: { cidr: "10.0.0.0/8", action: "allow", reason: null } },
        }),
      ]);
      // Nothing else was written by the refused calls.
      expect((await call("GET", "/admin/audit")).body.items).toHaveLength(3);
      const byRule = await call("GET", `/admin/audit?target_id=${added.body.id}`);
      expect(byRule.body.items.map((e: { action: string }) => e.action)).toEqual([
        "ip_rule.created",
        "ip_rule.removed",
      ]);
    });

    it("filters by action, target and time, and pages with next_cursor", async () => {
      const { kg, call } = await setup();
      const org = await call("POST", "/admin/orgs", { name: "Acme Corp" });
      const keys: string[] = [];
      for (const label of ["a", "b", "c"]) {
        keys.push((await call("POST", "/admin/keys", { org_name: "Acme Corp", label })).body.id);
      }
      await call("DELETE", `/admin/keys/${keys[1]}`);
      // biome-ignore lint/suspicious/noExplicitAny: events are checked field by field
      const all = (await call("GET", "/admin/audit")).body.items as Array<Record<string, any>>;
      expect(all).toHaveLength(5);

      const created = await call("GET", "/admin/audit?action=key.created");
      expect(created.body.items.map((e: { target_id: string }) => e.target_id)).toEqual(keys);
      const two = await call("GET", "/admin/audit?action=organization.created,key.revoked");
      expect(two.body.items.map((e: { action: string }) => e.action)).toEqual([
        "organization.created",
        "key.revoked",
      ]);
      const byTarget = await call("GET", `/admin/audit?target_id=${keys[1]}`);
      expect(byTarget.body.items.map((e: { action: string }) => e.action)).toEqual([
        "key.created",
        "key.revoked",
      ]);
      expect((await call("GET", `/admin/audit?target_id=${org.body.id}`)).body.items).toHaveLength(
        1,
      );
      const last = all.at(-1) as { at: string };
      const since = await call("GET", `/admin/audit?since=${encodeURIComponent(last.at)}`);
      expect(since.body.items.map((e: { id: string }) => e.id)).toContain(all.at(-1)?.id);
      for (const event of since.body.items) expect(event.at >= last.at).toBe(true);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      expect((await call("GET", `/admin/audit?since=${future}`)).body.items).toEqual([]);
      expect((await call("GET", `/admin/audit?until=${future}`)).body.items).toHaveLength(5);
      const past = "2000-01-01T00:00:00Z";
      expect((await call("GET", `/admin/audit?until=${past}`)).body.items).toEqual([]);

      // Pages of two: 2 + 2 + 1, together the whole log, in order.
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Answer = await call(
          "GET",
          `/admin/audit?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`,
        );
        expect(page.status).toBe(200);
        seen.push(...page.body.items.map((e: { id: string }) => e.id));
        cursor = page.body.next_cursor;
        pages += 1;
      } while (cursor !== null);
      expect(pages).toBe(3);
      expect(seen).toEqual(all.map((e) => e.id));
      // The same events as kg.listAuditEvents, on the wire.
      expect((await kg.listAuditEvents()).map((e) => e.id)).toEqual(seen);
    });

    it("refuses bad filters with a 400 problem", async () => {
      const { call } = await setup();
      for (const query of [
        "action=key.exploded",
        "action=",
        "action=key.created,nope",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=%00%01",
        `cursor=${"A".repeat(300)}`,
        "target_id=a%00b",
        `target_id=${"x".repeat(201)}`,
        "unknown=1",
      ]) {
        const answer = await call("GET", `/admin/audit?${query}`);
        expect(answer.status, `${query}: ${answer.text}`).toBe(400);
        expect(answer.contentType).toMatch(/^application\/problem\+json/);
        expect(answer.body).toMatchObject({ status: 400, code: "invalid_input" });
      }
      const named = await call("GET", "/admin/audit?action=key.exploded");
      expect(named.body.detail).toMatch(/key\.exploded.*key\.revoked/);
    });

    it("records the failure threshold blocking a client as ip.auto_blocked, by keyguard", async () => {
      const { kg, call } = await setup();
      for (let i = 0; i < THRESHOLD; i++) {
        expect(
          (await call("GET", "/admin/orgs", undefined, { "x-admin-key": `wrong-${i}` })).status,
        ).toBe(401);
      }
      expect((await call("GET", "/admin/orgs")).status).toBe(403); // blocked now
      const events = await kg.listAuditEvents({ action: "ip.auto_blocked" });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        actor: { type: "code", name: "keyguard" },
        targetType: "ip",
        targetId: "127.0.0.1",
        changes: { before: {}, after: { reason: "auth_failures", scope: "global" } },
      });
    });
  });
}
