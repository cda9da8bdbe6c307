import {
  KeyGuard,
  type KeyGuardConfigInput,
  resolveConfig,
  verifyWebhookSignature,
  type WebhookDelivery,
} from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "./eventually.js";
import type { TestDatabase } from "./store-conformance.js";
import {
  startWebhookReceiver,
  type WebhookAnswer,
  type WebhookReceiver,
} from "./webhook-receiver.js";

const SECRET = "webhook-conformance-secret";
/** Fast retries, so a test sees several attempts in well under a second. */
const FAST: NonNullable<KeyGuardConfigInput["webhooks"]> = {
  pollIntervalMs: 20,
  initialBackoffMs: 40,
  maxBackoffMs: 200,
  timeoutMs: 3_000,
};
const DAY_MS = 24 * 3_600_000;

/**
 * Webhook delivery over real HTTP against receivers the test starts, for one database:
 * signatures, retries with backoff, giving up, redirects, a slow receiver beside a fast
 * one, several KeyGuards on one database delivering each event once, notices raised once.
 */
export function describeWebhookConformance(
  name: string,
  openDatabase: () => Promise<TestDatabase>,
): void {
  describe(`Webhook conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function database() {
      const db = await openDatabase();
      cleanups.push(() => db.dispose());
      return db;
    }

    async function keyGuard(db: TestDatabase, webhooks: KeyGuardConfigInput["webhooks"] = {}) {
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET, webhooks: { ...FAST, ...webhooks } }, {}),
        store: await db.open(),
        onBackgroundError: (error) => {
          throw error;
        },
      });
      await kg.init();
      cleanups.push(() => kg.close());
      return kg;
    }

    async function receiver(answer?: WebhookAnswer): Promise<WebhookReceiver> {
      const started = await startWebhookReceiver(answer);
      cleanups.push(() => started.close());
      return started;
    }

    async function deliveriesOf(kg: KeyGuard, endpointId: string): Promise<WebhookDelivery[]> {
      return kg.webhooks.deliveries(endpointId);
    }

    it("delivers a change signed, in the Stripe scheme, verified by verifyWebhookSignature", async () => {
      const kg = await keyGuard(await database());
      const hooks = await receiver();
      const { endpoint, secret } = await kg.webhooks.create({
        url: hooks.url,
        events: ["key.revoked"],
      });
      expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      await kg.createOrganization("Acme");
      const { key } = await kg.createApiKey({ organization: "Acme", label: "prod" });
      await kg.revokeApiKey(key.id);
      kg.webhooks.start();
      await eventually(() => expect(hooks.received).toHaveLength(1), 10_000);
      const [request] = hooks.received;
      const header = request?.headers["keyguard-signature"] as string;
      expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      const event = verifyWebhookSignature(request?.body ?? "", header, secret);
      const [audited] = await kg.listAuditEvents({ action: "key.revoked" });
      expect(event).toEqual({
        id: audited?.id,
        type: "key.revoked",
        created_at: audited?.at.toISOString(),
        data: {
          actor: { type: "code", name: null },
          target: { type: "key", id: key.id },
          changes: audited?.changes,
        },
      });
      expect(request?.headers["content-type"]).toBe("application/json");
      expect(request?.headers["keyguard-event-id"]).toBe(event.id);
      expect(() => verifyWebhookSignature(`${request?.body} `, header, secret)).toThrow(
        expect.objectContaining({ reason: "signature_mismatch" }),
      );
      expect(() => verifyWebhookSignature(request?.body ?? "", header, "whsec_other")).toThrow(
        expect.objectContaining({ reason: "signature_mismatch" }),
      );
      await eventually(async () => {
        const [delivery] = await deliveriesOf(kg, endpoint.id);
        expect(delivery).toMatchObject({ eventId: event.id, status: "delivered" });
      }, 10_000);
      // key.created was not subscribed to: only the revocation was ever enqueued.
      expect(await deliveriesOf(kg, endpoint.id)).toHaveLength(1);
      expect(hooks.received).toHaveLength(1);
    });

    it("retries a receiver that answers 500 twice, then 200: three requests, one event", async () => {
      const kg = await keyGuard(await database());
      const hooks = await receiver((_request, n) => (n <= 2 ? 500 : 200));
      const { endpoint, secret } = await kg.webhooks.create({
        url: hooks.url,
        events: ["organization.created"],
      });
      await kg.createOrganization("Flaky Corp");
      const results: string[] = [];
      kg.webhooks.onAttempt((result) => results.push(result));
      kg.webhooks.start();
      await eventually(async () => {
        const [delivery] = await deliveriesOf(kg, endpoint.id);
        expect(delivery?.status).toBe("delivered");
      }, 10_000);
      expect(hooks.received).toHaveLength(3);
      expect(results).toEqual(["retry", "retry", "delivered"]);
      const ids = hooks.received.map(
        (request) =>
          verifyWebhookSignature(
            request.body,
            request.headers["keyguard-signature"] as string,
            secret,
          ).id,
      );
      expect(new Set(ids).size).toBe(1);
      expect(hooks.received.map((request) => request.headers["keyguard-delivery-attempt"])).toEqual(
        ["1", "2", "3"],
      );
      const [delivery] = await deliveriesOf(kg, endpoint.id);
      expect(delivery?.attempts.map((attempt) => attempt.statusCode)).toEqual([500, 500, 200]);
      expect(delivery?.attempts.map((attempt) => attempt.error)).toEqual([
        "answered 500",
        "answered 500",
        null,
      ]);
      expect(delivery?.nextAttemptAt).toBeNull();
      expect(delivery?.deliveredAt).toBeInstanceOf(Date);
      // The retries waited: each attempt started after the previous one's backoff.
      const starts = delivery?.attempts.map((attempt) => attempt.startedAt.getTime()) ?? [];
      expect(starts[1]).toBeGreaterThanOrEqual((starts[0] ?? 0) + 20);
      expect(starts[2]).toBeGreaterThanOrEqual((starts[1] ?? 0) + 40);
      // And the metric counts each attempt by how it ended.
      const exposition = await kg.metrics.getSingleMetricAsString(
        "keyguard_webhook_deliveries_total",
      );
      expect(exposition).toContain('keyguard_webhook_deliveries_total{result="rejected"} 2');
      expect(exposition).toContain('keyguard_webhook_deliveries_total{result="delivered"} 1');
      expect(exposition).toContain('keyguard_webhook_deliveries_total{result="abandoned"} 0');
    });

    it("gives a delivery up as failed once its retry window has passed", async () => {
      // Long enough for a retry even when a busy machine is slow to make the first attempt.
      const kg = await keyGuard(await database(), { retryWindowMs: 2_000 });
      const hooks = await receiver(() => 503);
      const { endpoint } = await kg.webhooks.create({ url: hooks.url, events: ["*"] });
      await kg.createOrganization("Gone Corp");
      const results: string[] = [];
      kg.webhooks.onAttempt((result) => results.push(result));
      kg.webhooks.start();
      await eventually(async () => {
        const [delivery] = await deliveriesOf(kg, endpoint.id);
        expect(delivery?.status).toBe("failed");
      }, 10_000);
      expect(results.at(-1)).toBe("failed");
      expect(
        await kg.metrics.getSingleMetricAsString("keyguard_webhook_deliveries_total"),
      ).toContain('keyguard_webhook_deliveries_total{result="abandoned"} 1');
      const [delivery] = await deliveriesOf(kg, endpoint.id);
      expect(delivery?.attempts.length).toBeGreaterThanOrEqual(2);
      expect(delivery?.attempts.length).toBe(hooks.received.length);
      expect(delivery?.nextAttemptAt).toBeNull();
      const sent = hooks.received.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(hooks.received).toHaveLength(sent); // nothing more after giving up
    });

    it("follows no redirect: a 307 is a failed attempt and its target hears nothing", async () => {
      const kg = await keyGuard(await database(), {
        initialBackoffMs: 60_000,
        maxBackoffMs: 60_000,
      });
      const target = await receiver();
      const hooks = await receiver(() => ({ status: 307, headers: { location: target.url } }));
      const { endpoint } = await kg.webhooks.create({ url: hooks.url, events: ["*"] });
      await kg.createOrganization("Moved Corp");
      kg.webhooks.start();
      await eventually(async () => {
        const [delivery] = await deliveriesOf(kg, endpoint.id);
        expect(delivery?.attempts).toHaveLength(1);
      }, 10_000);
      const [delivery] = await deliveriesOf(kg, endpoint.id);
      expect(delivery).toMatchObject({ status: "pending" });
      expect(delivery?.attempts[0]).toMatchObject({
        statusCode: 307,
        error: "answered 307 (redirects are not followed)",
      });
      expect(delivery?.nextAttemptAt?.getTime()).toBeGreaterThan(Date.now() + 20_000);
      expect(target.received).toHaveLength(0);
    });

    it("keeps delivering to a fast receiver while another one never answers", async () => {
      const kg = await keyGuard(await database(), { timeoutMs: 20_000, perEndpointConcurrency: 2 });
      const stalled = await receiver(() => "hang");
      const fast = await receiver();
      await kg.webhooks.create({ url: stalled.url, events: ["organization.created"] });
      const { endpoint } = await kg.webhooks.create({
        url: fast.url,
        events: ["organization.created"],
      });
      for (let i = 0; i < 12; i++) await kg.createOrganization(`Org ${i}`);
      kg.webhooks.start();
      await eventually(() => expect(fast.received).toHaveLength(12), 10_000);
      // The stalled receiver holds at most its share of slots, never more.
      expect(stalled.received.length).toBeLessThanOrEqual(2);
      await eventually(async () => {
        expect(
          (await deliveriesOf(kg, endpoint.id)).filter((d) => d.status === "delivered"),
        ).toHaveLength(12);
      }, 10_000);
      expect(stalled.received.length).toBeLessThanOrEqual(2);
    });

    it("has three KeyGuards on one database deliver each of 30 events exactly once", async () => {
      const db = await database();
      const [first, second, third] = [await keyGuard(db), await keyGuard(db), await keyGuard(db)];
      if (first === undefined || second === undefined || third === undefined) throw new Error();
      const hooks = await receiver();
      const { endpoint, secret } = await first.webhooks.create({
        url: hooks.url,
        events: ["organization.created"],
      });
      for (let i = 0; i < 30; i++) {
        await [first, second, third][i % 3]?.createOrganization(`Shared ${i}`);
      }
      for (const kg of [first, second, third]) kg.webhooks.start();
      await eventually(async () => {
        const deliveries = await deliveriesOf(first, endpoint.id);
        expect(deliveries.filter((d) => d.status === "delivered")).toHaveLength(30);
      }, 20_000);
      // Nothing left in flight anywhere, then count what arrived.
      for (const kg of [first, second, third]) await kg.webhooks.stop();
      const ids = hooks.received.map(
        (request) =>
          verifyWebhookSignature(
            request.body,
            request.headers["keyguard-signature"] as string,
            secret,
          ).id,
      );
      expect(ids).toHaveLength(30);
      expect(new Set(ids).size).toBe(30);
    });

    it("raises key.expiring once per key and expiry, and quota.exceeded once per key and month", async () => {
      const db = await database();
      const one = await keyGuard(db, { expiringDays: 7 });
      const two = await keyGuard(db, { expiringDays: 7 });
      const hooks = await receiver();
      const { secret } = await one.webhooks.create({
        url: hooks.url,
        events: ["key.expiring", "quota.exceeded"],
      });
      await one.createOrganization("Soon");
      const soon = await one.createApiKey({
        organization: "Soon",
        label: "soon",
        expiresAt: new Date(Date.now() + 3 * DAY_MS),
        monthlyLimit: 10,
      });
      await one.createApiKey({
        organization: "Soon",
        label: "later",
        expiresAt: new Date(Date.now() + 30 * DAY_MS),
      });
      one.webhooks.start();
      two.webhooks.start();
      const info = await one.getApiKey(soon.key.id);
      for (const kg of [one, two, one, two]) kg.webhooks.quotaExceeded(info, Date.now());
      await eventually(() => expect(hooks.received).toHaveLength(2), 10_000);
      await new Promise((resolve) => setTimeout(resolve, 200)); // several more steps of both
      for (const kg of [one, two]) await kg.webhooks.stop();
      const events = hooks.received.map((request) =>
        verifyWebhookSignature(
          request.body,
          request.headers["keyguard-signature"] as string,
          secret,
        ),
      );
      expect(events.map((event) => event.type).sort()).toEqual(["key.expiring", "quota.exceeded"]);
      const expiring = events.find((event) => event.type === "key.expiring");
      expect(expiring?.data).toEqual({
        key: { id: soon.key.id, org_id: soon.key.orgId, label: "soon", prefix: soon.key.prefix },
        expires_at: soon.key.expiresAt?.toISOString(),
      });
      const quota = events.find((event) => event.type === "quota.exceeded");
      expect(quota?.data).toMatchObject({
        key: { id: soon.key.id, monthly_limit: 10 },
        period: new Date().toISOString().slice(0, 7),
      });
      // A new expiry is a new notice.
      await one.updateApiKey(soon.key.id, { expiresAt: new Date(Date.now() + 2 * DAY_MS) });
      one.webhooks.start();
      await eventually(() => expect(hooks.received).toHaveLength(3), 10_000);
    });

    it("raises credits.low once per key lineage and balance period, at or below 10% left", async () => {
      const db = await database();
      const one = await keyGuard(db);
      const two = await keyGuard(db);
      const hooks = await receiver();
      const { secret } = await one.webhooks.create({ url: hooks.url, events: ["credits.low"] });
      await one.createOrganization("Prepaid");
      const created = await one.createApiKey({
        organization: "Prepaid",
        label: "prepaid",
        credits: { remaining: 100, refill: { amount: 100, interval: "monthly" } },
      });
      const info = await one.getApiKey(created.key.id);
      const periodStart = (info.credits as { epoch: Date }).epoch.getTime();
      one.webhooks.start();
      two.webhooks.start();
      // 11 of 100 left: above the threshold, no notice.
      one.webhooks.creditsSpent(info, periodStart, 100, 11, Date.now());
      for (const kg of [one, two, one, two]) {
        kg.webhooks.creditsSpent(info, periodStart, 100, 10, Date.now());
      }
      await eventually(() => expect(hooks.received).toHaveLength(1), 10_000);
      await new Promise((resolve) => setTimeout(resolve, 200)); // several more steps of both
      expect(hooks.received).toHaveLength(1);
      const event = verifyWebhookSignature(
        hooks.received[0]?.body as string,
        hooks.received[0]?.headers["keyguard-signature"] as string,
        secret,
      );
      expect(event.type).toBe("credits.low");
      expect(event.data).toEqual({
        key: { id: info.id, org_id: info.orgId, label: "prepaid", prefix: info.prefix },
        remaining: 10,
        period_credits: 100,
        threshold_percent: 10,
        period_start: new Date(periodStart).toISOString(),
        refill: { amount: 100, interval: "monthly" },
      });
      // The next period's balance is a new notice.
      one.webhooks.creditsSpent(info, periodStart + 1, 100, 3, Date.now());
      await eventually(() => expect(hooks.received).toHaveLength(2), 10_000);
      for (const kg of [one, two]) await kg.webhooks.stop();
    });

    it("registers at most 100 endpoints when registrations from two KeyGuards race", async () => {
      const db = await database();
      const [first, second] = [await keyGuard(db), await keyGuard(db)];
      if (first === undefined || second === undefined) throw new Error();
      for (let i = 0; i < 95; i++) {
        await first.webhooks.create({ url: `http://127.0.0.1:9/${i}`, events: ["*"] });
      }
      const attempts = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          [first, second][i % 2]?.webhooks.create({
            url: `http://127.0.0.1:9/race-${i}`,
            events: ["*"],
          }),
        ),
      );
      const refused = attempts.filter((attempt) => attempt.status === "rejected");
      expect(refused).toHaveLength(15);
      for (const attempt of refused) {
        expect((attempt as PromiseRejectedResult).reason).toMatchObject({ code: "invalid_input" });
      }
      expect(await first.webhooks.list({ limit: 200 })).toHaveLength(100);
    });

    it("removes an endpoint with its pending deliveries; its secret is stored sealed", async () => {
      const db = await database();
      const kg = await keyGuard(db);
      const hooks = await receiver(() => 500);
      const { endpoint, secret } = await kg.webhooks.create({ url: hooks.url, events: ["*"] });
      await kg.createOrganization("Removed");
      expect(await deliveriesOf(kg, endpoint.id)).toHaveLength(1);
      expect(await db.dumpContents()).not.toContain(secret);
      expect(await kg.webhooks.list()).toEqual([endpoint]);
      expect(await kg.webhooks.remove(endpoint.id)).toEqual(endpoint);
      expect(await kg.webhooks.list()).toEqual([]);
      await expect(kg.webhooks.deliveries(endpoint.id)).rejects.toMatchObject({
        code: "webhook_not_found",
      });
      await expect(kg.webhooks.remove(endpoint.id)).rejects.toMatchObject({
        code: "webhook_not_found",
      });
      kg.webhooks.start();
      await kg.createOrganization("After");
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(hooks.received).toHaveLength(0);
    });
  });
}
