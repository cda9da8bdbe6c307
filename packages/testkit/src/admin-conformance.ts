import type { Limiter } from "@keyguard/core";
import { describe, expect, it } from "vitest";
import { describeAdminAudit } from "./admin-audit-conformance.js";
import {
  type AdminConformanceOptions,
  type Answer,
  adminHarness,
  expectProblemAnswer,
  type StartAdminApp,
} from "./admin-conformance-support.js";
import { describeAdminCredits } from "./admin-credits-conformance.js";
import { describeAdminLimitStatus } from "./admin-limit-status-conformance.js";
import { describeAdminRaces } from "./admin-races-conformance.js";
import { describeAdminWebhooks } from "./admin-webhooks-conformance.js";
import { describeIpRuleConformance } from "./ip-rules-conformance.js";
import { postgresAvailable } from "./postgres-test-database.js";
import { kyselyTestDatabases, type OpenKyselyStore } from "./test-databases.js";

export type { AdminConformanceOptions, StartAdminApp } from "./admin-conformance-support.js";

const SECRET = "admin-conformance-secret";
const THRESHOLD = 4;
/** The challenge every admin 401 carries (RFC 9110 §11.6.1). */
const ADMIN_CHALLENGE = 'ApiKey realm="keyguard-admin", header="X-Admin-Key"';

/**
 * The admin API over real HTTP for one adapter and one database: keyguard-python's endpoints, the
 * ones beyond it, pagination, authentication, masking, bad input (nothing written), the
 * OpenAPI document, and changes taking effect on protected routes at once.
 */
export function describeAdminConformance(
  name: string,
  start: StartAdminApp,
  options: AdminConformanceOptions,
): void {
  describe(`Admin API conformance: ${name}`, () => {
    const harness = adminHarness(start, options, {
      secretKey: SECRET,
      ipBlockThreshold: THRESHOLD,
    });

    async function setup() {
      const { kg, app, call } = await harness.setup();
      const api = (path: string, rawKey: string) =>
        fetch(`${app.url}${path}`, { headers: { "x-api-key": rawKey } });
      return { kg, app, call, api };
    }

    function expectProblem(answer: Answer, status: number, code: string): void {
      expectProblemAnswer(answer, status, code);
      expect(typeof answer.body.detail).toBe("string");
      // An HTTP client has no CLI: an answer never sends it to a command.
      expect(answer.body.detail).not.toMatch(/\bkeyguard [a-z]|\blist-(keys|orgs)\b/);
    }

    describeAdminRaces(start, options);
    describeAdminWebhooks(start, options);
    describeAdminAudit(start, options);
    describeAdminCredits(start, options);
    describeAdminLimitStatus(start, options);
    describeIpRuleConformance(name, start, options);

    it("runs keyguard-python's endpoints: orgs, keys (raw key once, then masked), revoke, stats", async () => {
      const { kg, call, api } = await setup();
      const org = await call("POST", "/admin/orgs", { name: "Acme Corp" });
      expect(org.status).toBe(201);
      expect(org.body).toMatchObject({ name: "Acme Corp", status: "active" });
      expect((await call("GET", "/admin/orgs")).body.items).toEqual([
        { ...org.body, keys: { total: 0, active: 0 } },
      ]);

      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "prod-key",
        rate_limit_per_minute: 120,
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        org_id: org.body.id,
        org_name: "Acme Corp",
        label: "prod-key",
        rate_limit_per_minute: 120,
        status: "active",
      });
      const rawKey: string = created.body.raw_key;
      expect(rawKey).toMatch(/^kg_live_/);
      expect((await api("/api/data", rawKey)).status).toBe(200);

      const listed = await call("GET", "/admin/keys");
      expect(listed.body.items).toHaveLength(1);
      expect(listed.body.items[0]).not.toHaveProperty("raw_key");
      for (const answer of [listed, await call("GET", `/admin/keys/${created.body.id}`)]) {
        expect(answer.text).not.toContain(rawKey);
        expect(answer.text).not.toMatch(/hash/i);
      }
      const stored = await kg.store.findApiKeyById(created.body.id);
      expect(stored?.keyHash).toMatch(/^[0-9a-f]{64}$/);
      expect(listed.text).not.toContain(String(stored?.keyHash));

      expect((await call("GET", "/admin/orgs")).body.items[0].keys).toEqual({
        total: 1,
        active: 1,
      });
      const revoked = await call("DELETE", `/admin/keys/${created.body.id}`);
      expect(revoked.status).toBe(200);
      expect((await call("GET", "/admin/orgs")).body.items[0].keys).toEqual({
        total: 1,
        active: 0,
      });
      expect(revoked.body).toMatchObject({
        status: "revoked",
        is_active: false,
        already_revoked: false,
      });
      // DELETE is idempotent: the same key state again, saying nothing changed this time.
      const again = await call("DELETE", `/admin/keys/${created.body.id}`);
      expect(again.status).toBe(200);
      // (`last_used_at` aside: the request above may be flushed to the store in between.)
      const { last_used_at: _first, ...revokedState } = revoked.body;
      const { last_used_at: _again, ...againState } = again.body;
      expect(againState).toEqual({ ...revokedState, already_revoked: true });
      const refused = await api("/api/data", rawKey);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe("revoked_api_key");

      const stats = await call("GET", "/admin/stats");
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({
        organizations: 1,
        total_keys: 1,
        active_keys: 0,
        legacy_hash_keys: 0,
        previous_secret_keys: 0,
      });
      // The allowed request; the revoked key's refusal is not usage of a valid key.
      expect(stats.body.total_requests).toBe(1);

      // Every key's usage: the allowed request, by hour, with its key among the busiest.
      const overview = await call("GET", "/admin/usage");
      expect(overview.status).toBe(200);
      const hours = overview.body.hours as { total: number; status_2xx: number }[];
      expect(hours).toHaveLength(25); // 24 hours back, and the current one
      expect(hours.reduce((sum, hour) => sum + hour.status_2xx, 0)).toBe(1);
      expect(overview.body.top_keys).toEqual([
        expect.objectContaining({ key_id: created.body.id, requests: 1 }),
      ]);
      for (const since of ["yesterday", "2999-01-01T00:00:00Z", "1999-01-01T00:00:00Z"]) {
        const refused = await call("GET", `/admin/usage?since=${encodeURIComponent(since)}`);
        expect(refused.status, since).toBe(400);
        expect(refused.body.code, since).toBe("invalid_input");
      }
      expect((await call("GET", "/admin/usage?limit=5")).status).toBe(400);
    });

    it("suspends organizations and updates, rotates and reports keys, in force at once", async () => {
      const { call, api } = await setup();
      const org = (await call("POST", "/admin/orgs", { name: "Beta" })).body;
      const key = (
        await call("POST", "/admin/keys", { org_id: org.id, label: "k", scopes: ["read"] })
      ).body;
      expect((await api("/api/data", key.raw_key)).headers.get("x-ratelimit-limit")).toBe("60");

      const suspended = await call("PATCH", `/admin/orgs/${org.id}`, { status: "suspended" });
      expect(suspended.body.status).toBe("suspended");
      expect((await api("/api/data", key.raw_key)).status).toBe(403);
      await call("PATCH", `/admin/orgs/${org.id}`, { status: "active" });
      expect((await api("/api/data", key.raw_key)).status).toBe(200);

      const updated = await call("PATCH", `/admin/keys/${key.id}`, {
        label: "renamed",
        rate_limit_per_minute: 7,
        monthly_limit: 1000,
        scopes: ["read", "write"],
        expires_at: "2099-01-01T00:00:00Z",
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        label: "renamed",
        rate_limit_per_minute: 7,
        monthly_limit: 1000,
        scopes: ["read", "write"],
        expires_at: "2099-01-01T00:00:00.000Z",
      });
      expect((await call("GET", `/admin/keys/${key.id}`)).body).toEqual({
        ...updated.body,
        policies: [
          expect.objectContaining({ name: "minute", limit: 7 }),
          expect.objectContaining({ name: "month", limit: 1000, remaining: 1000 }),
        ],
      });
      expect((await api("/api/data", key.raw_key)).headers.get("x-ratelimit-limit")).toBe("7");

      const graced = await call("POST", `/admin/keys/${key.id}/rotate`, {
        grace_period_seconds: 3600,
      });
      expect(graced.status).toBe(201);
      expect(graced.body.key).toMatchObject({ label: "renamed", rate_limit_per_minute: 7 });
      expect(graced.body.previous.id).toBe(key.id);
      expect((await api("/api/data", graced.body.key.raw_key)).status).toBe(200);
      expect((await api("/api/data", key.raw_key)).status).toBe(200); // within the grace period
      const rotated = await call("POST", `/admin/keys/${graced.body.key.id}/rotate`);
      expect(rotated.status).toBe(201);
      expect((await api("/api/data", graced.body.key.raw_key)).status).toBe(401);

      const usage = await call(
        "GET",
        `/admin/keys/${key.id}/usage?since=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`,
      );
      expect(usage.status).toBe(200);
      const total = usage.body.hours.reduce(
        (sum: number, h: { total: number }) => sum + h.total,
        0,
      );
      const ok = usage.body.hours.reduce(
        (sum: number, h: { status_2xx: number }) => sum + h.status_2xx,
        0,
      );
      const refusedCount = usage.body.hours.reduce(
        (sum: number, h: { status_4xx: number }) => sum + h.status_4xx,
        0,
      );
      // Four requests with this key got through; the suspended organization's refusal is
      // answered before the key is identified, so it is not this key's usage.
      expect({ total, ok, refusedCount }).toEqual({ total: 4, ok: 4, refusedCount: 0 });
    });

    it("paginates and filters listings", async () => {
      const { call } = await setup();
      for (let i = 0; i < 5; i++) await call("POST", "/admin/orgs", { name: `Org ${i}` });
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const page = await call("GET", `/admin/orgs?limit=2${query}`);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items.map((o: { name: string }) => o.name));
        cursor = page.body.next_cursor;
      } while (cursor !== null);
      expect(seen).toEqual(["Org 0", "Org 1", "Org 2", "Org 3", "Org 4"]);
      await call("PATCH", `/admin/orgs/${(await call("GET", "/admin/orgs")).body.items[1].id}`, {
        status: "suspended",
      });
      expect((await call("GET", "/admin/orgs?status=suspended")).body.items).toHaveLength(1);

      const a = (await call("POST", "/admin/keys", { org_name: "Org 0", label: "a" })).body;
      await call("POST", "/admin/keys", { org_name: "Org 0", label: "b" });
      await call("POST", "/admin/keys", { org_name: "Org 2", label: "c" });
      await call("DELETE", `/admin/keys/${a.id}`);
      const labels = async (query: string) =>
        (await call("GET", `/admin/keys?${query}`)).body.items.map(
          (k: { label: string }) => k.label,
        );
      expect(await labels("org=Org%200")).toEqual(["a", "b"]);
      expect(await labels("status=revoked")).toEqual(["a"]);
      expect(await labels("status=active&org=Org%200")).toEqual(["b"]);
      // Filtered pages continue after their cursor (the store reads one page, not the list).
      const first = (await call("GET", "/admin/keys?status=active&limit=1")).body;
      expect(first.items.map((k: { label: string }) => k.label)).toEqual(["b"]);
      const after = encodeURIComponent(first.next_cursor);
      expect(await labels(`status=active&limit=1&cursor=${after}`)).toEqual(["c"]);
      expect(
        (await call("GET", `/admin/keys?status=active&limit=1&cursor=${after}`)).body.next_cursor,
      ).toBeNull();
      expectProblem(await call("GET", "/admin/keys?status=sideways"), 400, "invalid_input");
      expectProblem(await call("GET", "/admin/orgs?cursor=bm9wZQ"), 400, "invalid_input");
      // A cursor naming nothing is refused without repeating what it held (a pasted raw key).
      const pasted = Buffer.from(a.raw_key, "utf8").toString("base64url");
      const refused = await call("GET", `/admin/keys?cursor=${pasted}`);
      expectProblem(refused, 400, "invalid_input");
      expect(refused.text).not.toContain(a.raw_key);
      expectProblem(await call("GET", "/admin/orgs?limit=0"), 400, "invalid_input");
    });

    it("manages IP blocks", async () => {
      const { call } = await setup();
      const blocked = await call("POST", "/admin/ip-blocks", {
        ip: "203.0.113.5",
        duration: "1 hour",
        reason: "abuse report",
      });
      expect(blocked.status).toBe(201);
      expect(blocked.body).toMatchObject({
        client: "203.0.113.5",
        scope: "global",
        reason: "abuse report",
      });
      const onPath = await call("POST", "/admin/ip-blocks", {
        ip: "203.0.113.6",
        duration: 60,
        path: "/api/data",
      });
      expect(onPath.body).toMatchObject({ scope: "path", path: "/api/data" });
      expect((await call("GET", "/admin/ip-blocks")).body.items).toHaveLength(2);
      expect((await call("DELETE", "/admin/ip-blocks/203.0.113.5")).body).toEqual({
        ip: "203.0.113.5",
        unblocked: true,
      });
      expectProblem(await call("DELETE", "/admin/ip-blocks/203.0.113.5"), 404, "not_found");
      expectProblem(
        await call("POST", "/admin/ip-blocks", { ip: "not-an-ip" }),
        400,
        "invalid_input",
      );
      expect((await call("GET", "/admin/ip-blocks")).body.items).toHaveLength(1);
    });

    it("needs X-Admin-Key, tells nothing without it, and blocks a client that keeps guessing", async () => {
      const { kg, call, app } = await setup();
      await call("POST", "/admin/orgs", { name: "Acme" });
      const key = (await call("POST", "/admin/keys", { org_name: "Acme", label: "k" })).body;
      const missing = await fetch(`${app.url}/admin/keys/${key.id}`);
      expect(missing.status).toBe(401);
      const unknownId = await call(
        "GET",
        "/admin/keys/00000000-0000-4000-8000-000000000000",
        undefined,
        {
          "x-admin-key": "wrong-key-wrong-key",
        },
      );
      const knownId = await call("GET", `/admin/keys/${key.id}`, undefined, {
        "x-admin-key": "wrong-key-wrong-key",
      });
      expectProblem(knownId, 401, "unauthorized");
      expect(knownId.text).toBe(unknownId.text); // the same answer whether the key exists or not
      expect(knownId.text).toBe(await missing.text());
      const noRoute = await call("GET", "/admin/nothing-here", undefined, { "x-admin-key": "x" });
      expect(noRoute.text).toBe(knownId.text);
      for (const answer of [knownId, unknownId, noRoute]) {
        expect(answer.headers.get("www-authenticate")).toBe(ADMIN_CHALLENGE);
      }
      expect(missing.headers.get("www-authenticate")).toBe(ADMIN_CHALLENGE);
      // The missing key did not count; 3 wrong keys did, and a 4th reaches the threshold:
      // the client is now blocked, right key or not.
      await call("GET", "/admin/orgs", undefined, { "x-admin-key": "wrong-again-wrong-again" });
      const blocked = await call("GET", "/admin/stats");
      expectProblem(blocked, 403, "ip_blocked");
      expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await api(app.url, key.raw_key)).status).toBe(403);
      expect(await kg.unblockIp("127.0.0.1")).toBe(true);
      expect((await call("GET", "/admin/stats")).status).toBe(200);
    });

    it("counts only wrong admin keys toward a block: never a missing key or a preflight", async () => {
      const { call, app } = await setup();
      for (let i = 0; i < 10 * THRESHOLD; i++) {
        const missing = await fetch(`${app.url}/admin/stats`);
        expect(missing.status).toBe(401);
        expect(missing.headers.get("www-authenticate")).toBe(ADMIN_CHALLENGE);
        await missing.body?.cancel();
        const empty = await call("GET", "/admin/stats", undefined, { "x-admin-key": "" });
        expectProblem(empty, 401, "unauthorized");
        const preflight = await call("OPTIONS", "/admin/keys", undefined, {
          "x-admin-key": "wrong-key-wrong-key",
          origin: "https://elsewhere.example",
          "access-control-request-method": "DELETE",
        });
        // 401 from the admin API (Express, Koa); Fastify routes no OPTIONS to it (404).
        expect([401, 404]).toContain(preflight.status);
      }
      expect((await call("GET", "/admin/stats")).status).toBe(200);
      for (let i = 0; i < THRESHOLD; i++) {
        expectProblem(
          await call("GET", "/admin/stats", undefined, { "x-admin-key": `wrong-key-${i}-wrong` }),
          401,
          "unauthorized",
        );
      }
      const blocked = await call("GET", "/admin/stats");
      expectProblem(blocked, 403, "ip_blocked");
      expect(blocked.headers.get("www-authenticate")).toBeNull();
    });

    it("refuses bad input precisely, with nothing written", async () => {
      const { kg, call } = await setup();
      await call("POST", "/admin/orgs", { name: "Acme" });
      const key = (await call("POST", "/admin/keys", { org_name: "Acme", label: "k" })).body;
      const before = JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys()]);

      const malformed = await call("POST", "/admin/orgs", '{"name": "Broken"');
      expectProblem(malformed, 400, "invalid_input");
      expect(malformed.body.detail).toMatch(/not valid JSON/);
      const wrongType = await call("POST", "/admin/keys", {
        org_name: "Acme",
        label: "x",
        rate_limit_per_minute: "fast",
      });
      expectProblem(wrongType, 400, "invalid_input");
      expect(wrongType.body.detail).toMatch(/rate_limit_per_minute/);
      const unknownField = await call("POST", "/admin/orgs", { name: "X", owner: "me" });
      expectProblem(unknownField, 400, "invalid_input");
      expect(unknownField.body.detail).toBe('unknown field "owner"');
      const missingField = await call("POST", "/admin/keys", { org_name: "Acme" });
      expect(missingField.body.detail).toBe("label is required");
      expectProblem(await call("POST", "/admin/orgs", []), 400, "invalid_input");
      expectProblem(
        await call("POST", "/admin/keys", {
          org_name: "Acme",
          label: "x",
          rate_limit_per_minute: -5,
        }),
        400,
        "invalid_input",
      );
      const noOrg = await call("POST", "/admin/keys", { org_name: "Nope", label: "x" });
      expectProblem(noOrg, 404, "organization_not_found");
      expect(noOrg.body.detail).toBe('No organization named "Nope".');
      expectProblem(
        await call("POST", "/admin/orgs", { name: "Acme" }),
        409,
        "organization_exists",
      );
      expectProblem(await call("PATCH", `/admin/keys/${key.id}`, {}), 400, "invalid_input");
      expectProblem(
        await call("PATCH", `/admin/keys/${key.id}`, { expires_at: "yesterday" }),
        400,
        "invalid_input",
      );
      // Core's checks are reported under the wire's field names, not core's (expiresAt).
      const past = await call("PATCH", `/admin/keys/${key.id}`, {
        expires_at: "2020-01-01T00:00:00Z",
      });
      expectProblem(past, 400, "invalid_input");
      expect(past.body.detail).toBe("expires_at must be in the future");
      const tooFast = await call("PATCH", `/admin/keys/${key.id}`, {
        rate_limit_per_minute: 2_000_000_000,
      });
      expectProblem(tooFast, 400, "invalid_input");
      expect(tooFast.body.detail).toMatch(/^rate_limit_per_minute must be at most/);
      expectProblem(
        await call("POST", "/admin/orgs", "name=Acme", {
          "content-type": "application/x-www-form-urlencoded",
        }),
        415,
        "unsupported_media_type",
      );
      const huge = await call(
        "POST",
        "/admin/orgs",
        JSON.stringify({ name: "x".repeat(1_100_000) }),
      );
      expectProblem(huge, 413, "payload_too_large");
      expectProblem(
        await call("GET", "/admin/keys/00000000-0000-4000-8000-000000000000"),
        404,
        "api_key_not_found",
      );
      expectProblem(await call("DELETE", "/admin/keys/not-a-uuid"), 404, "api_key_not_found");
      expectProblem(
        await call("PATCH", "/admin/orgs/00000000-0000-4000-8000-000000000000", {
          status: "active",
        }),
        404,
        "organization_not_found",
      );
      const pasted = await call("GET", `/admin/keys/${key.raw_key}`);
      expectProblem(pasted, 404, "api_key_not_found");
      expect(pasted.text).not.toContain(key.raw_key);
      const wrongMethod = await call("PUT", "/admin/orgs", { name: "X" });
      expectProblem(wrongMethod, 405, "method_not_allowed");
      expect(wrongMethod.headers.get("allow")).toBe("POST, GET");
      expect(JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys()])).toBe(before);

      // SQL metacharacters are data, stored and returned literally.
      const tricky = "Robert'); DROP TABLE organizations;--";
      const stored = await call("POST", "/admin/orgs", { name: tricky });
      expect(stored.status).toBe(201);
      expect(
        (await call("GET", "/admin/orgs")).body.items.map((o: { name: string }) => o.name),
      ).toEqual(["Acme", tricky]);
    });

    it("refuses control characters in any text that would reach a query: 400 or 404, never 5xx", async () => {
      const { kg, call } = await setup();
      await call("POST", "/admin/orgs", { name: "Acme" });
      const key = (await call("POST", "/admin/keys", { org_name: "Acme", label: "k" })).body;
      const before = JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys()]);
      const nul = Buffer.from("\u0000").toString("base64url"); // "AA"
      const cursorOf = (text: string) => Buffer.from(text).toString("base64url");
      const probes: Array<[string, string, unknown, number, RegExp?]> = [
        ["POST", "/admin/keys", { org_name: "\u0000", label: "x" }, 404],
        ["POST", "/admin/keys", { org_name: "Acme\u0000", label: "x" }, 404],
        ["POST", "/admin/keys", { org_name: "Acme", label: "a\u0000b" }, 400, /label/],
        ["POST", "/admin/keys", { org_name: "Acme", label: "a\u001bb" }, 400, /label/],
        ["POST", "/admin/keys", { org_name: "Acme", label: "invoice\u202egnp.exe" }, 400, /label/],
        ["POST", "/admin/keys", { org_name: "Acme", label: "a\u2066b\u2069" }, 400, /label/],
        ["POST", "/admin/orgs", { name: "Ac\u0000me" }, 400, /name/],
        ["PATCH", `/admin/keys/${key.id}`, { label: "\u0000" }, 400, /label/],
        ["PATCH", `/admin/keys/${key.id}`, { label: "x\u202dy" }, 400, /label/],
        ["GET", `/admin/keys?cursor=${nul}`, undefined, 400, /cursor/],
        ["GET", `/admin/orgs?cursor=${nul}`, undefined, 400, /cursor/],
        ["GET", `/admin/keys?cursor=${cursorOf("a\u0000b")}`, undefined, 400, /cursor/],
        ["GET", `/admin/orgs?cursor=${cursorOf("x'; --")}`, undefined, 400, /cursor/],
        ["GET", "/admin/keys?org=%00", undefined, 404],
        ["GET", "/admin/keys?org=Acme%00", undefined, 404],
        ["DELETE", "/admin/ip-blocks/%00", undefined, 400, /ip/],
        ["DELETE", "/admin/ip-blocks/1.2.3.4%00", undefined, 400, /ip/],
        ["POST", "/admin/ip-blocks", { ip: "1.2.3.4\u0000", duration: 60 }, 400, /ip/],
        [
          "POST",
          "/admin/ip-blocks",
          { ip: "1.2.3.4", duration: 60, reason: "\u0000" },
          400,
          /reason/,
        ],
        [
          "POST",
          "/admin/ip-blocks",
          { ip: "1.2.3.4", duration: 60, reason: "a\u202ab" },
          400,
          /reason/,
        ],
        ["GET", "/admin/keys/%00", undefined, 404],
        ["PATCH", "/admin/orgs/%00", { status: "suspended" }, 404],
      ];
      for (const [method, path, body, status, field] of probes) {
        const answer = await call(method, path, body);
        const what = `${method} ${path} ${JSON.stringify(body)}`;
        expect(answer.status, `${what}: ${answer.text}`).toBe(status);
        expect(answer.headers.get("content-type"), what).toMatch(/^application\/problem\+json/);
        if (field !== undefined) expect(answer.body.detail, what).toMatch(field);
      }
      expect(JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys()])).toBe(before);
      expect((await call("GET", "/admin/ip-blocks")).body.items ?? []).toEqual([]);
    });

    it("serves its OpenAPI 3.1 document, listing every operation", async () => {
      const { call } = await setup();
      const document = await call("GET", "/admin/openapi.json", undefined, { "x-admin-key": "" });
      expect(document.status).toBe(200);
      expect(document.body.openapi).toBe("3.1.0");
      const operations = Object.entries(
        document.body.paths as Record<string, Record<string, { operationId: string }>>,
      )
        .flatMap(([path, methods]) =>
          Object.entries(methods).map(
            ([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`,
          ),
        )
        .sort();
      expect(operations).toEqual(
        [
          "DELETE /ip-blocks/{ip} deleteIpBlocks",
          "DELETE /keys/{id} revokeApiKey",
          "GET /audit listAuditEvents",
          "GET /ip-blocks listIpBlocks",
          "GET /keys listApiKeys",
          "GET /keys/{id} getApiKey",
          "GET /keys/{id}/usage getApiKeyUsage",
          "GET /orgs listOrganizations",
          "GET /stats getStats",
          "GET /usage getUsageOverview",
          "PATCH /keys/{id} updateApiKey",
          "PATCH /orgs/{id} updateOrganization",
          "POST /ip-blocks createIpBlock",
          "POST /keys createApiKey",
          "POST /keys/{id}/rotate rotateApiKey",
          "POST /keys/{id}/credits addCredits",
          "POST /orgs createOrganization",
          "DELETE /webhooks/{id} deleteWebhook",
          "GET /webhooks listWebhooks",
          "GET /webhooks/{id}/deliveries listWebhookDeliveries",
          "POST /webhooks createWebhook",
          "GET /ip-rules listIpRules",
          "POST /ip-rules createIpRule",
          "DELETE /ip-rules/{id} deleteIpRule",
        ].sort(),
      );
      expect(document.body.components.securitySchemes.adminKey).toEqual({
        type: "apiKey",
        in: "header",
        name: "X-Admin-Key",
      });
      expect(document.body.components.schemas.CreateApiKey.properties).toHaveProperty(
        "rate_limit_per_minute",
      );
    });
  });
}

function api(url: string, rawKey: string): Promise<Response> {
  return fetch(`${url}/api/data`, { headers: { "x-api-key": rawKey } });
}

/**
 * The admin conformance suite on both databases: a SQLite file, and a PostgreSQL schema
 * (skipped locally when the server does not answer; required with `CI=true`). Await it at
 * the top of a test file.
 */
export async function describeAdminConformanceOnDatabases(
  adapter: string,
  start: StartAdminApp,
  options: { openStore: OpenKyselyStore; createLimiter: () => Limiter },
): Promise<void> {
  const databases = kyselyTestDatabases(options.openStore);
  const postgres = await postgresAvailable();
  describeAdminConformance(`${adapter} on SQLite`, start, {
    openStore: databases.sqlite,
    createLimiter: options.createLimiter,
  });
  describe.runIf(postgres)("PostgreSQL", () => {
    describeAdminConformance(`${adapter} on PostgreSQL`, start, {
      openStore: databases.postgres,
      createLimiter: options.createLimiter,
    });
  });
}
