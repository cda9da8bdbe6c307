import { verifyWebhookSignature } from "@keyguard/core";
import { describe, expect, it } from "vitest";
import {
  type AdminConformanceOptions,
  type Answer,
  adminHarness,
  expectProblemAnswer,
  type StartAdminApp,
} from "./admin-conformance-support.js";
import { eventually } from "./eventually.js";
import { startWebhookReceiver, type WebhookAnswer } from "./webhook-receiver.js";

const SECRET = "admin-webhooks-secret";

/**
 * The admin API's webhook endpoints over real HTTP (a part of the admin suite, so every
 * adapter runs it on every database): registration with the secret shown once, listing
 * without it, removal, deliveries with their attempts in keyset pages, and bad input
 * refused with 400 problems and nothing stored. The app's `keyguard()` guard starts
 * delivery, as in a server.
 */
export function describeAdminWebhooks(
  start: StartAdminApp,
  options: AdminConformanceOptions,
): void {
  describe("webhooks over HTTP", () => {
    const harness = adminHarness(start, options, {
      secretKey: SECRET,
      webhooks: { pollIntervalMs: 20, initialBackoffMs: 40, maxBackoffMs: 100 },
    });

    /** A server and a webhook receiver answering as `answer` says; `call` paths are under /admin. */
    async function setup(answer?: WebhookAnswer) {
      const { kg, call } = await harness.setup();
      const receiver = await startWebhookReceiver(answer);
      harness.track(() => receiver.close());
      const adminCall = (method: string, path: string, body?: unknown) =>
        call(method, `/admin${path}`, body);
      return { kg, call: adminCall, receiver };
    }

    function expectProblem(answer: Answer, status: number, code: string, detail?: RegExp) {
      expectProblemAnswer(answer, status, code);
      if (detail) expect(answer.body.detail).toMatch(detail);
    }

    it("registers an endpoint (secret once), lists it without the secret, removes it", async () => {
      const { call, receiver } = await setup();
      const created = await call("POST", "/webhooks", {
        url: receiver.url,
        events: ["key.revoked", "ip.auto_blocked"],
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toMatchObject({
        url: receiver.url,
        events: ["key.revoked", "ip.auto_blocked"],
      });
      expect(created.body.secret).toMatch(/^whsec_/);
      const { secret, ...endpoint } = created.body;
      const listed = await call("GET", "/webhooks");
      expect(listed.body).toEqual({ items: [endpoint], next_cursor: null });
      expect(listed.text).not.toContain(secret);
      expect(listed.text).not.toMatch(/secret/i);

      const removed = await call("DELETE", `/webhooks/${endpoint.id}`);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual(endpoint);
      expect((await call("GET", "/webhooks")).body.items).toEqual([]);
      expectProblem(await call("DELETE", `/webhooks/${endpoint.id}`), 404, "webhook_not_found");
      expectProblem(await call("DELETE", "/webhooks/not-an-id"), 404, "webhook_not_found");
      expectProblem(
        await call("GET", `/webhooks/${endpoint.id}/deliveries`),
        404,
        "webhook_not_found",
      );
    });

    it("refuses bad endpoints with 400 problems, storing nothing", async () => {
      const { call } = await setup();
      const cases: Array<[unknown, RegExp]> = [
        [{ url: "ftp://example.com/", events: ["*"] }, /^url must use http:\/\/ or https:\/\//],
        [{ url: "https://u:p@example.com/", events: ["*"] }, /user name or password/],
        [{ url: `https://example.com/${"a".repeat(3000)}`, events: ["*"] }, /at most 2048/],
        [{ url: "https://example.com/", events: ["key.exploded"] }, /not an event KeyGuard sends/],
        [{ url: "https://example.com/", events: [] }, /at least one event/],
        [{ url: "https://example.com/", events: Array(40).fill("*") }, /at most 32 events/],
        [{ url: "https://example.com/" }, /events/],
        [{ url: "https://example.com/", events: ["*"], secret: "mine" }, /secret/],
        [{ url: 7, events: ["*"] }, /url/],
        ["not json", /JSON/i],
      ];
      for (const [body, detail] of cases) {
        expectProblem(
          await call("POST", "/webhooks", body),
          400,
          expect.any(String) as never,
          detail,
        );
      }
      expect((await call("GET", "/webhooks")).body.items).toEqual([]);
      expectProblem(await call("GET", "/webhooks?limit=0"), 400, "invalid_input");
      expectProblem(await call("GET", "/webhooks?cursor=%00"), 400, "invalid_input");
    });

    it("shows an endpoint's deliveries with each attempt, newest first, in keyset pages", async () => {
      const { call, receiver } = await setup((_request, n) => (n === 1 ? 500 : 200));
      const created = (
        await call("POST", "/webhooks", { url: receiver.url, events: ["organization.created"] })
      ).body;
      expect((await call("POST", "/orgs", { name: "First" })).status).toBe(201);
      await eventually(async () => {
        const page = await call("GET", `/webhooks/${created.id}/deliveries`);
        expect(page.body.items[0]?.status).toBe("delivered");
      }, 10_000);
      expect((await call("POST", "/orgs", { name: "Second" })).status).toBe(201);
      await eventually(async () => {
        const page = await call("GET", `/webhooks/${created.id}/deliveries`);
        expect(page.body.items.map((d: { status: string }) => d.status)).toEqual([
          "delivered",
          "delivered",
        ]);
      }, 10_000);
      const first = await call("GET", `/webhooks/${created.id}/deliveries?limit=1`);
      expect(first.status).toBe(200);
      expect(first.body.items).toHaveLength(1);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const second = await call(
        "GET",
        `/webhooks/${created.id}/deliveries?limit=1&cursor=${encodeURIComponent(first.body.next_cursor)}`,
      );
      expect(second.body.items).toHaveLength(1);
      expect(second.body.next_cursor).toBeNull();
      // Newest first: the second organization's delivery, then the first's (two attempts).
      const [newest] = first.body.items;
      const [oldest] = second.body.items;
      const events = receiver.received.map((request) =>
        verifyWebhookSignature(
          request.body,
          request.headers["keyguard-signature"] as string,
          // biome-ignore lint/style/noNonNullAssertion: registered above
          created.secret!,
        ),
      );
      expect(events.map((event) => event.id)).toEqual([
        oldest.event_id,
        oldest.event_id,
        newest.event_id,
      ]);
      expect(oldest).toMatchObject({
        event_type: "organization.created",
        status: "delivered",
        next_attempt_at: null,
        delivered_at: expect.any(String),
      });
      expect(oldest.attempts).toEqual([
        {
          attempt: 1,
          started_at: expect.any(String),
          duration_ms: expect.any(Number),
          status_code: 500,
          error: "answered 500",
        },
        {
          attempt: 2,
          started_at: expect.any(String),
          duration_ms: expect.any(Number),
          status_code: 200,
          error: null,
        },
      ]);
      expect(newest.attempts).toHaveLength(1);
    });

    it("delivers ip_rule.created to an endpoint subscribed to it, once per rule created", async () => {
      const { call, receiver } = await setup();
      const created = await call("POST", "/webhooks", {
        url: receiver.url,
        events: ["ip_rule.created"],
      });
      expect(created.status, created.text).toBe(201);
      const rule = await call("POST", "/ip-rules", { cidr: "198.51.100.0/24", action: "deny" });
      expect(rule.status).toBe(201);
      // Not delivered: the same rule again (no change), and an action not subscribed to.
      expect(
        (await call("POST", "/ip-rules", { cidr: "198.51.100.0/24", action: "deny" })).status,
      ).toBe(200);
      expect((await call("DELETE", `/ip-rules/${rule.body.id}`)).status).toBe(200);
      await eventually(async () => {
        const page = await call("GET", `/webhooks/${created.body.id}/deliveries`);
        expect(page.body.items.map((d: { status: string }) => d.status)).toEqual(["delivered"]);
      }, 10_000);
      const page = await call("GET", `/webhooks/${created.body.id}/deliveries`);
      expect(page.body.items[0]?.event_type).toBe("ip_rule.created");
      expect(receiver.received).toHaveLength(1);
      const [request] = receiver.received;
      const event = verifyWebhookSignature(
        request?.body ?? "",
        request?.headers["keyguard-signature"] as string,
        created.body.secret,
      );
      expect(event).toMatchObject({
        type: "ip_rule.created",
        data: {
          actor: { type: "admin_api", name: "127.0.0.1" },
          target: { type: "ip_rule", id: rule.body.id },
          changes: { before: {}, after: { cidr: "198.51.100.0/24", action: "deny", reason: null } },
        },
      });
    });

    it("documents the webhook operations in the OpenAPI document", async () => {
      const { call } = await setup();
      const document = (await call("GET", "/openapi.json")).body;
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining(["/webhooks", "/webhooks/{id}", "/webhooks/{id}/deliveries"]),
      );
      expect(document.paths["/webhooks"].post.responses["201"]).toBeDefined();
    });
  });
}
