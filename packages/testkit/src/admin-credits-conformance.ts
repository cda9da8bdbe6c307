import { type Clock, KeyGuard, type Limiter, resolveConfig } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import type { StartAdminApp } from "./admin-conformance.js";
import { eventually } from "./eventually.js";
import type { DisposableStore } from "./test-databases.js";

const SECRET = "admin-credits-secret";

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  readonly body: any;
  readonly text: string;
}

/**
 * Prepaid credits over real HTTP (a capability of the admin suite): set on create and
 * PATCH, topped up with `POST /admin/keys/{id}/credits`, shown live on the key, enforced
 * on protected routes at once (3 credits: three 200s, then 429 `credits_exhausted` with
 * the policy in `violated-policies` and the RateLimit fields), and bad input refused with
 * a 4xx problem and nothing written.
 */
export function describeAdminCredits(
  start: StartAdminApp,
  options: {
    readonly openStore: () => Promise<DisposableStore>;
    readonly createLimiter: () => Limiter;
  },
): void {
  describe("credits over HTTP", () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(clock?: Clock) {
      const { store, dispose } = await options.openStore();
      cleanups.push(dispose);
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET }, {}),
        store,
        limiter: options.createLimiter(),
        ...(clock === undefined ? {} : { clock }),
      });
      await kg.init();
      cleanups.push(() => kg.close());
      const app = await start(kg);
      cleanups.push(() => app.close());
      const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
        const response = await fetch(`${app.url}${path}`, {
          method,
          headers: {
            "x-admin-key": SECRET,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined
            ? {}
            : { body: typeof body === "string" ? body : JSON.stringify(body) }),
        });
        const text = await response.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        return { status: response.status, headers: response.headers, body: parsed, text };
      };
      const api = (rawKey: string) =>
        fetch(`${app.url}/api/data`, { headers: { "x-api-key": rawKey } });
      await call("POST", "/admin/orgs", { name: "Acme Corp" });
      return { kg, call, api };
    }

    function expectProblem(answer: Answer, status: number, code: string): void {
      expect(answer.status, answer.text).toBe(status);
      expect(answer.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status, code });
    }

    it("a key with 3 credits answers 200 three times, then 429 credits_exhausted; a top-up applies at once", async () => {
      const { kg, call, api } = await setup();
      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "prepaid",
        credits: { remaining: 3 },
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body.credits).toEqual({
        remaining: 3,
        period_credits: 3,
        period_start: expect.any(String),
        refills_at: null,
        refill: null,
      });
      const rawKey = created.body.raw_key as string;
      const id = created.body.id as string;
      const left: (string | null)[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await api(rawKey);
        expect(response.status).toBe(200);
        expect(response.headers.get("ratelimit-policy")).toContain('"credits";q=3');
        left.push(response.headers.get("ratelimit"));
        await response.arrayBuffer();
      }
      expect(left.map((value) => value?.match(/"credits";r=(\d+)/)?.[1])).toEqual(["2", "1", "0"]);
      const refused = await api(rawKey);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      const problem = (await refused.json()) as Record<string, unknown>;
      expect(problem).toMatchObject({ status: 429, code: "credits_exhausted" });
      expect(problem["violated-policies"]).toEqual(["credits"]);
      expect(refused.headers.get("ratelimit")).toMatch(/"credits";r=0(,|$)/);
      expect(refused.headers.get("ratelimit-policy")).toContain('"credits";q=3');
      // Without a refill no wait helps: no Retry-After.
      expect(refused.headers.get("retry-after")).toBeNull();
      // The three allowed requests' credits reach the store with their usage rows (the
      // refusal spent none), which is what a restarted server seeds from.
      const periodStart = new Date(created.body.credits.period_start as string);
      await eventually(async () => {
        await kg.flushUsage();
        expect(await kg.store.creditsSpent?.(id, periodStart)).toBe(3);
      }, 10_000);

      const shown = await call("GET", `/admin/keys/${id}`);
      expect(shown.body.credits.remaining).toBe(0);
      const topped = await call("POST", `/admin/keys/${id}/credits`, { add: 2 });
      expect(topped.status, topped.text).toBe(200);
      expect(topped.body).toMatchObject({ key_id: id, added: 2, remaining: 2, period_credits: 5 });
      const again = await api(rawKey);
      expect(again.status).toBe(200);
      expect(again.headers.get("ratelimit")).toMatch(/"credits";r=1(,|$)/);
      expect((await call("GET", `/admin/keys/${id}`)).body.credits.remaining).toBe(1);
      const events = await kg.listAuditEvents({ action: "key.credits_added" });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        targetId: id,
        actor: { type: "admin_api" },
        changes: { after: { credits_added: 2 } },
      });
    });

    it("sets a refill and removes credits with PATCH, listing them with the key", async () => {
      const { kg, call, api } = await setup();
      const created = await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "later" });
      const id = created.body.id as string;
      expect(created.body.credits).toBeNull();
      const given = await call("PATCH", `/admin/keys/${id}`, {
        credits: { remaining: 10, refill: { amount: 5, interval: "daily" } },
      });
      expect(given.status, given.text).toBe(200);
      expect(given.body.credits).toMatchObject({
        remaining: 10,
        period_credits: 10,
        refill: { amount: 5, interval: "daily" },
      });
      expect(Date.parse(given.body.credits.refills_at) - Date.now()).toBeLessThanOrEqual(
        86_400_000,
      );
      const response = await api(created.body.raw_key);
      expect(response.headers.get("ratelimit-policy")).toContain('"credits";q=10;w=86400');
      await response.arrayBuffer();
      const listed = await call("GET", "/admin/keys");
      expect(listed.body.items[0].credits.remaining).toBe(9);
      const removed = await call("PATCH", `/admin/keys/${id}`, { credits: null });
      expect(removed.body.credits).toBeNull();
      const free = await api(created.body.raw_key);
      expect(free.status).toBe(200);
      expect(free.headers.get("ratelimit-policy")).not.toContain("credits");
      await free.arrayBuffer();
      const updates = await kg.listAuditEvents({ action: "key.updated", targetId: id });
      expect(updates).toHaveLength(2);
      for (const event of updates) expect(Object.keys(event.changes.after)).toEqual(["credits"]);
    });

    it("advertises a refilled period's credits in RateLimit-Policy, not the key's first grant", async () => {
      // 500 credits now, refilled to 100 at each UTC midnight: after the first midnight the
      // balance's quota is 100, though the cached key still says it was granted 500.
      let now = Date.UTC(2026, 5, 10, 20, 0, 0);
      const { call, api } = await setup({ now: () => now });
      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "refilled",
        credits: { remaining: 500, refill: { amount: 100, interval: "daily" } },
      });
      expect(created.status, created.text).toBe(201);
      const first = await api(created.body.raw_key);
      expect(first.headers.get("ratelimit-policy")).toContain('"credits";q=500;w=86400');
      expect(first.headers.get("ratelimit")).toContain('"credits";r=499;t=14400');
      await first.arrayBuffer();
      now += 5 * 3_600_000; // 01:00 the next day
      const refilled = await api(created.body.raw_key);
      expect(refilled.status).toBe(200);
      expect(refilled.headers.get("ratelimit-policy")).toContain('"credits";q=100;w=86400');
      expect(refilled.headers.get("ratelimit-policy")).toMatch(/^"minute";q=\d+;w=60, "credits"/);
      expect(refilled.headers.get("ratelimit")).toContain('"credits";r=99;t=82800');
      await refilled.arrayBuffer();
    });

    it("refuses bad credits and top-ups with a 4xx problem, writing nothing", async () => {
      const { kg, call } = await setup();
      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "strict",
        credits: { remaining: 5 },
      });
      const id = created.body.id as string;
      for (const body of [
        { add: -1 },
        { add: 0 },
        { add: 1.5 },
        '{"add": 9007199254740993}',
        { add: "5" },
        { add: 1, extra: 1 },
        {},
        { add: null },
        "[1]",
        "not json",
      ]) {
        const answer = await call("POST", `/admin/keys/${id}/credits`, body);
        expect(answer.status, `${JSON.stringify(body)}: ${answer.text}`).toBeGreaterThanOrEqual(
          400,
        );
        expect(answer.status).toBeLessThan(500);
        expect(answer.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      }
      for (const credits of [
        { remaining: -1 },
        { remaining: 1.5 },
        { remaining: "10" },
        { remaining: 2 ** 53 },
        { remaining: 1, extra: true },
        { remaining: 1, refill: { amount: 0, interval: "daily" } },
        { remaining: 1, refill: { amount: 1, interval: "hourly" } },
        { remaining: 1, refill: "daily" },
        "10",
        [],
      ]) {
        expectProblem(await call("PATCH", `/admin/keys/${id}`, { credits }), 400, "invalid_input");
        expectProblem(
          await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "x", credits }),
          400,
          "invalid_input",
        );
      }
      expectProblem(
        await call("POST", "/admin/keys/0190a1b2-0000-7000-8000-000000000000/credits", { add: 1 }),
        404,
        "api_key_not_found",
      );
      const none = await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "none" });
      expectProblem(
        await call("POST", `/admin/keys/${none.body.id}/credits`, { add: 1 }),
        409,
        "conflict",
      );
      await call("DELETE", `/admin/keys/${id}`);
      expectProblem(await call("POST", `/admin/keys/${id}/credits`, { add: 1 }), 409, "conflict");
      // Nothing was written: the balance and the key list are as they were.
      expect((await kg.getApiKey(id)).credits?.granted).toBe(5);
      expect(await kg.listAuditEvents({ action: "key.credits_added" })).toHaveLength(0);
      expect((await call("GET", "/admin/keys")).body.items).toHaveLength(2);
    });
  });
}
