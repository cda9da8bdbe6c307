import type { KeyGuardConfigInput } from "@keyguard/core";
import { describe, expect, it } from "vitest";
import {
  type AdminConformanceOptions,
  type Answer,
  adminHarness,
  answerOf,
  expectProblemAnswer,
  type StartAdminApp,
} from "./admin-conformance-support.js";
import { rawRequest } from "./http-client.js";

const SECRET = "ip-rules-conformance-secret";
const THRESHOLD = 3;

/**
 * IP allow / deny rules and keys' `allowed_ips` over real HTTP for one adapter and one
 * database: the admin routes (bad input, duplicates, the OpenAPI document), the guard
 * refusing and letting through as the rules say, with the client address as the pipeline
 * derives it (a forwarded header from an untrusted peer is never believed). The test
 * servers listen on loopback, so the client is 127.0.0.1, which an IPv6 (dual-stack)
 * socket reports as `::ffff:127.0.0.1`: IPv4 rules must match it either way.
 */
export function describeIpRuleConformance(
  name: string,
  start: StartAdminApp,
  options: AdminConformanceOptions,
): void {
  describe(`IP rules conformance: ${name}`, () => {
    const harness = adminHarness(
      start,
      options,
      { secretKey: SECRET, ipBlockThreshold: THRESHOLD },
      { onWarning: () => {} },
    );

    async function setup(config: Partial<KeyGuardConfigInput> = {}) {
      const { kg, app, call } = await harness.setup(config);
      const api = async (rawKey: string, headers: Record<string, string> = {}) =>
        answerOf(
          await fetch(`${app.url}/api/data`, { headers: { "x-api-key": rawKey, ...headers } }),
        );
      await kg.createOrganization("Acme Corp");
      return { kg, app, call, api };
    }

    function expectProblem(answer: Answer, status: number, code: string): void {
      expectProblemAnswer(answer, status, code);
      expect(answer.body.type).toBe(`urn:keyguard:problem:${code}`);
    }

    it("admin routes: create (canonical), repeat (200, same rule), conflict, list, delete", async () => {
      const { call } = await setup();
      const created = await call("POST", "/admin/ip-rules", {
        cidr: "198.51.100.77/24",
        action: "deny",
        reason: "scraper",
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        cidr: "198.51.100.0/24",
        action: "deny",
        reason: "scraper",
        created_at: expect.any(String),
        source: "store",
      });
      const again = await call("POST", "/admin/ip-rules", {
        cidr: "198.51.100.0/24",
        action: "deny",
      });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(created.body);
      const other = await call("POST", "/admin/ip-rules", {
        cidr: "198.51.100.1/24",
        action: "allow",
      });
      expectProblem(other, 409, "conflict");
      expect(other.body.detail).toContain(created.body.id);
      const mapped = await call("POST", "/admin/ip-rules", {
        cidr: "::FFFF:10.0.0.0/104",
        action: "allow",
      });
      expect(mapped.body).toMatchObject({ cidr: "10.0.0.0/8", action: "allow" });
      const listed = await call("GET", "/admin/ip-rules");
      expect(listed.status).toBe(200);
      expect(listed.body.items.map((rule: { cidr: string }) => rule.cidr)).toEqual([
        "198.51.100.0/24",
        "10.0.0.0/8",
      ]);
      const removed = await call("DELETE", `/admin/ip-rules/${created.body.id}`);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual(created.body);
      expectProblem(await call("DELETE", `/admin/ip-rules/${created.body.id}`), 404, "not_found");
      const junk = await call("DELETE", "/admin/ip-rules/kg_live_not-an-id");
      expectProblem(junk, 404, "not_found");
      expect(junk.text).not.toContain("kg_live_not-an-id");
      expect((await call("GET", "/admin/ip-rules")).body.items).toHaveLength(1);
    });

    it("admin routes refuse bad input with 400 problems and write nothing", async () => {
      const { call } = await setup();
      const cases: [unknown, RegExp][] = [
        [{ cidr: "10.0.0.0/33", action: "deny" }, /^cidr .*prefix length is 0 to 32/],
        [{ cidr: "2001:db8::/200", action: "deny" }, /prefix length is 0 to 128/],
        [{ cidr: "not-an-ip", action: "deny" }, /^cidr "not-an-ip" is not an IP address/],
        [{ cidr: "127.1", action: "deny" }, /is not an IP address/],
        [{ cidr: "fe80::1%eth0", action: "allow" }, /is not an IP address/],
        [{ cidr: "", action: "deny" }, /cidr must not be empty/],
        [{ cidr: "1".repeat(5_000), action: "deny" }, /at most 100 characters/],
        [{ cidr: "10.0.0.0/8", action: "block" }, /action must be "allow" or "deny"/],
        [{ cidr: 167772160, action: "deny" }, /^cidr: cidr must be a string$/],
        [{ cidr: "10.0.0.0/8" }, /action/],
        [{ cidr: "10.0.0.0/8", action: "deny", extra: 1 }, /extra/],
        [{ cidr: "10.0.0.0/8", action: "deny", reason: "x".repeat(201) }, /reason/],
      ];
      for (const [body, detail] of cases) {
        const answer = await call("POST", "/admin/ip-rules", body);
        expectProblem(answer, 400, "invalid_input");
        expect(answer.body.detail).toMatch(detail);
      }
      expect((await call("GET", "/admin/ip-rules")).body.items).toEqual([]);
    });

    it("the OpenAPI document describes the rules and keys' allowed_ips", async () => {
      const { app } = await setup();
      const document = (await (
        await fetch(`${app.url}/admin/openapi.json`, { headers: { "x-admin-key": SECRET } })
      ).json()) as {
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
        components: { schemas: Record<string, { properties: Record<string, unknown> }> };
      };
      expect(Object.keys(document.paths["/ip-rules"] ?? {}).sort()).toEqual(["get", "post"]);
      expect(Object.keys(document.paths["/ip-rules"]?.post?.responses ?? {})).toEqual(
        expect.arrayContaining(["200", "201", "400", "409"]),
      );
      expect(Object.keys(document.paths["/ip-rules/{id}"] ?? {})).toEqual(["delete"]);
      const schemas = document.components.schemas;
      expect(Object.keys(schemas.IpRule?.properties ?? {})).toContain("cidr");
      for (const schema of ["ApiKey", "CreateApiKey", "UpdateApiKey"]) {
        expect(Object.keys(schemas[schema]?.properties ?? {}), schema).toContain("allowed_ips");
      }
    });

    it("a deny rule refuses the client with 403 ip_denied before any key work; removing it lifts it", async () => {
      const { kg, call, api } = await setup();
      const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
      expect((await api(rawKey)).status).toBe(200);
      // The server may see the client as ::ffff:127.0.0.1 (a dual-stack socket): one address.
      const rule = await call("POST", "/admin/ip-rules", { cidr: "127.0.0.1", action: "deny" });
      expect(rule.status).toBe(201);
      for (const key of [rawKey, "kg_live_wrong-key"]) {
        const denied = await api(key);
        expect(denied.status, denied.text).toBe(403);
        expect(denied.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        expect(denied.body).toMatchObject({ code: "ip_denied", status: 403 });
        expect(denied.text).not.toContain("127.0.0.1"); // nothing about the rules leaks
      }
      // No key work: wrong keys from a denied client count nothing toward a block.
      expect(await kg.listBlocks()).toEqual([]);
      expect((await call("DELETE", `/admin/ip-rules/${rule.body.id}`)).status).toBe(200);
      expect((await api(rawKey)).status).toBe(200);
    });

    it("an allow rule means never limited or blocked; a spoofed X-Forwarded-For from an untrusted peer gains nothing", async () => {
      const { kg, call, api, app } = await setup({ ipRules: { allow: ["192.168.0.0/16"] } });
      const { rawKey } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "k",
        rateLimitPerMinute: 2,
      });
      // The peer (loopback) is not a trusted proxy: its X-Forwarded-For is not the client.
      const spoofed = { "x-forwarded-for": "192.168.1.1" };
      expect((await api(rawKey, spoofed)).status).toBe(200);
      expect((await api(rawKey, spoofed)).status).toBe(200);
      const limited = await api(rawKey, spoofed);
      expect(limited.status).toBe(429);
      // Nor do two headers, or one spelled as a raw client might, over a raw socket.
      const { host } = new URL(app.url);
      const raw = await rawRequest(
        app.url,
        `GET /api/data HTTP/1.1\r\nHost: ${host}\r\nX-API-Key: ${rawKey}\r\nX-Forwarded-For: 192.168.1.1\r\nX-Forwarded-For: [::ffff:192.168.1.1]:80\r\nConnection: close\r\n\r\n`,
      );
      expect(raw.status).toBe(429);
      // Allow the real peer: never limited, never blocked.
      await call("POST", "/admin/ip-rules", { cidr: "127.0.0.0/8", action: "allow" });
      for (let i = 0; i < 5; i++) expect((await api(rawKey)).status).toBe(200);
      await kg.blockIp("127.0.0.1", { duration: "1 hour" });
      expect((await api(rawKey)).status).toBe(200);
      for (let i = 0; i < THRESHOLD + 2; i++) {
        expect((await api("kg_live_wrong-key")).status).toBe(401); // still authenticated
      }
      expect((await api(rawKey)).status).toBe(200);
    });

    it("a key's allowed_ips: set on create and PATCH, shown, enforced (403 ip_not_allowed, counted)", async () => {
      const { call, api } = await setup();
      await call("POST", "/admin/orgs", { name: "Other" });
      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "office",
        allowed_ips: ["192.0.2.1/24", "2001:db8::/32"],
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body.allowed_ips).toEqual(["192.0.2.0/24", "2001:db8::/32"]);
      const refused = await api(created.body.raw_key);
      expect(refused.status, refused.text).toBe(403);
      expect(refused.body).toMatchObject({ code: "ip_not_allowed" });
      const patched = await call("PATCH", `/admin/keys/${created.body.id}`, {
        allowed_ips: ["::ffff:127.0.0.1"],
      });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.body.allowed_ips).toEqual(["127.0.0.1/32"]);
      expect((await call("GET", `/admin/keys/${created.body.id}`)).body.allowed_ips).toEqual([
        "127.0.0.1/32",
      ]);
      expect((await api(created.body.raw_key)).status).toBe(200);
      const bad = await call("PATCH", `/admin/keys/${created.body.id}`, {
        allowed_ips: ["10.0.0.0/8", "nope"],
      });
      expectProblem(bad, 400, "invalid_input");
      expect(bad.body.detail).toMatch(/^allowed_ips "nope" is not an IP address/);
      const tooMany = await call("PATCH", `/admin/keys/${created.body.id}`, {
        allowed_ips: Array.from({ length: 101 }, (_, i) => `10.${i}.0.0/16`),
      });
      expectProblem(tooMany, 400, "invalid_input");
      expect(
        (await call("PATCH", `/admin/keys/${created.body.id}`, { allowed_ips: null })).body
          .allowed_ips,
      ).toBeNull();
      // Used from elsewhere, it counts as a failed attempt: at the threshold, blocked.
      const restricted = await call("POST", "/admin/keys", {
        org_name: "Other",
        label: "elsewhere",
        allowed_ips: ["203.0.113.0/24"],
      });
      // One failure counted already (the first refusal above): THRESHOLD - 1 more.
      for (let i = 0; i < THRESHOLD - 1; i++) {
        expect((await api(restricted.body.raw_key)).body.code).toBe("ip_not_allowed");
      }
      const blocked = await api(created.body.raw_key);
      expect(blocked.status).toBe(403);
      expect(blocked.body.code).toBe("ip_blocked");
    });
  });
}
