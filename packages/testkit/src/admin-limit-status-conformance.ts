import { describe, expect, it } from "vitest";
import {
  type AdminConformanceOptions,
  adminHarness,
  type StartAdminApp,
} from "./admin-conformance-support.js";
import { FakeClock } from "./fake-clock.js";

const SECRET = "admin-limit-status-secret";

/** One entry of `GET /admin/keys/{id}`'s `policies`. */
interface PolicyStatusWire {
  readonly name: string;
  readonly scope: string;
  readonly mode: string;
  readonly limit: number;
  readonly window_seconds: number;
  readonly remaining: number | null;
  readonly resets_at: string | null;
}

/**
 * A key's live figures over real HTTP (a capability of the admin suite): `GET
 * /admin/keys/{id}` lists every policy its requests are decided against, its own, its
 * organization's, the month, credits and concurrency, with what is left; reading them
 * spends nothing, an organization's windows are shared by its keys, and windows come back
 * as time passes (a fake clock: no sleeps).
 */
export function describeAdminLimitStatus(
  start: StartAdminApp,
  options: AdminConformanceOptions,
): void {
  describe("live remaining per policy", () => {
    const clock = new FakeClock(Date.UTC(2026, 5, 10, 12, 0, 0));
    const harness = adminHarness(start, options, { secretKey: SECRET }, { clock });

    async function setup() {
      clock.set(Date.UTC(2026, 5, 10, 12, 0, 0));
      const { kg, app, call } = await harness.setup();
      const api = async (rawKey: string) => {
        const response = await fetch(`${app.url}/api/data`, { headers: { "x-api-key": rawKey } });
        await response.arrayBuffer();
        return response;
      };
      const org = await call("POST", "/admin/orgs", { name: "Acme Corp" });
      expect(org.status, org.text).toBe(201);
      const limited = await call("PATCH", `/admin/orgs/${org.body.id}`, {
        limits: [{ name: "day", limit: 100, window_seconds: 86_400 }],
      });
      expect(limited.status, limited.text).toBe(200);
      const policiesOf = async (id: string): Promise<Record<string, PolicyStatusWire>> => {
        const shown = await call("GET", `/admin/keys/${id}`);
        expect(shown.status, shown.text).toBe(200);
        const policies = shown.body.policies as PolicyStatusWire[];
        return Object.fromEntries(policies.map((policy) => [policy.name, policy]));
      };
      return { kg, call, api, policiesOf, orgId: org.body.id as string };
    }

    it("lists every policy with what is left, and reading it spends nothing", async () => {
      const { call, api, policiesOf } = await setup();
      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "all policies",
        rate_limit_per_minute: 5,
        monthly_limit: 50,
        limits: [{ name: "burst", limit: 3, window_seconds: 10 }],
        concurrency: 2,
        credits: { remaining: 20 },
      });
      expect(created.status, created.text).toBe(201);
      const id = created.body.id as string;
      const rawKey = created.body.raw_key as string;

      const fresh = await call("GET", `/admin/keys/${id}`);
      expect(fresh.body.policies.map((policy: PolicyStatusWire) => policy.name)).toEqual([
        "minute",
        "burst",
        "org.day",
        "concurrency",
        "month",
        "credits",
      ]);
      expect(fresh.body.policies[0]).toEqual({
        name: "minute",
        scope: "key",
        mode: "enforce",
        limit: 5,
        window_seconds: 60,
        remaining: 5,
        resets_at: expect.any(String),
      });

      for (let i = 0; i < 2; i++) expect((await api(rawKey)).status).toBe(200);
      const afterTwo = await policiesOf(id);
      expect(afterTwo.minute?.remaining).toBe(3);
      expect(afterTwo.burst?.remaining).toBe(1);
      expect(afterTwo["org.day"]).toMatchObject({
        scope: "organization",
        limit: 100,
        remaining: 98,
      });
      expect(afterTwo.concurrency).toMatchObject({ limit: 2, window_seconds: 0, remaining: null });
      expect(afterTwo.month).toMatchObject({ scope: "quota", limit: 50, remaining: 48 });
      expect(afterTwo.month?.resets_at).toBe("2026-07-01T00:00:00.000Z");
      expect(afterTwo.credits).toMatchObject({ limit: 20, remaining: 18, resets_at: null });
      expect(Date.parse(afterTwo.burst?.resets_at ?? "")).toBeGreaterThan(clock.now());
      expect(Date.parse(afterTwo.burst?.resets_at ?? "")).toBeLessThanOrEqual(clock.now() + 10_000);

      // Reading again (and again) spends nothing of any policy.
      expect(await policiesOf(id)).toEqual(afterTwo);
      // The key's remaining request of its burst is still there to spend.
      const third = await api(rawKey);
      expect(third.status).toBe(200);
      expect((await api(rawKey)).status).toBe(429);
      const exhausted = await policiesOf(id);
      expect(exhausted.burst?.remaining).toBe(0);
      // The refused request charged nothing: the minute, month and credits spent three.
      expect(exhausted.minute?.remaining).toBe(2);
      expect(exhausted.month?.remaining).toBe(47);
      expect(exhausted.credits?.remaining).toBe(17);

      clock.advance(11_000);
      const later = await policiesOf(id);
      expect(later.burst?.remaining).toBe(3);
      expect(later.minute?.remaining).toBe(2);
    });

    it("shows an organization's window as one counter shared by its keys", async () => {
      const { call, api, policiesOf } = await setup();
      const first = await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "one" });
      const second = await call("POST", "/admin/keys", { org_name: "Acme Corp", label: "two" });
      for (let i = 0; i < 3; i++) expect((await api(first.body.raw_key)).status).toBe(200);
      expect((await api(second.body.raw_key)).status).toBe(200);
      const ofSecond = await policiesOf(second.body.id);
      expect(ofSecond["org.day"]?.remaining).toBe(96);
      expect(ofSecond.minute?.remaining).toBe(59);
      // No month or credits: only what the key has is listed.
      expect(Object.keys(ofSecond)).toEqual(["minute", "org.day"]);
    });

    it("answers for a key no request has used yet, and 404 for an unknown one", async () => {
      const { call, policiesOf } = await setup();
      const created = await call("POST", "/admin/keys", {
        org_name: "Acme Corp",
        label: "unused",
        monthly_limit: 1000,
      });
      const policies = await policiesOf(created.body.id);
      expect(policies.minute?.remaining).toBe(60);
      expect(policies.month?.remaining).toBe(1000);
      const unknown = await call("GET", "/admin/keys/00000000-0000-4000-8000-000000000000");
      expect(unknown.status).toBe(404);
      expect(unknown.body.policies).toBeUndefined();
    });
  });
}
