import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyWebhookSignature } from "@keyguard/express";
import {
  dropSchema,
  eventually,
  postgresAvailable,
  startWebhookReceiver,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";

const pgAvailable = await postgresAvailable();

/** Fast polling and retries; a short lease so a killed server's claim ends soon. */
const FAST_WEBHOOKS = {
  KEYGUARD_WEBHOOKS_POLL_INTERVAL_MS: "50",
  KEYGUARD_WEBHOOKS_INITIAL_BACKOFF_MS: "50",
  KEYGUARD_WEBHOOKS_MAX_BACKOFF_MS: "200",
  KEYGUARD_WEBHOOKS_TIMEOUT_MS: "3000",
  KEYGUARD_WEBHOOKS_LEASE_MARGIN_MS: "500",
};

async function admin(server: ExampleProcess, method: string, path: string, body?: unknown) {
  const response = await fetch(`${server.url}/admin${path}`, {
    method,
    headers: {
      "x-admin-key": EXAMPLE_SECRET,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  return { status: response.status, body: (await response.json()) as any };
}

describe("webhook delivery by example server processes", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(framework: string, env: Record<string, string>) {
    const server = await startExampleProcess(framework, { ...FAST_WEBHOOKS, ...env });
    cleanups.push(async () => {
      if (server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill("SIGTERM");
      }
      await server.exited;
    });
    return server;
  }

  it("delivers an event after its server was killed (SIGKILL) mid-delivery and restarted", async () => {
    const directory = mkdtempSync(join(tmpdir(), "keyguard-webhook-kill-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const env = { KEYGUARD_DATABASE_URL: `sqlite:${join(directory, "keyguard.db")}` };
    // The first request is never answered: the server is killed while it waits.
    const receiver = await startWebhookReceiver((_request, n) => (n === 1 ? "hang" : 200));
    cleanups.push(() => receiver.close());
    const first = await start("express", env);
    const created = await admin(first, "POST", "/webhooks", {
      url: receiver.url,
      events: ["organization.created"],
    });
    expect(created.status).toBe(201);
    expect((await admin(first, "POST", "/orgs", { name: "Killed Corp" })).status).toBe(201);
    await eventually(() => expect(receiver.received).toHaveLength(1), 10_000);
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe(null);

    const restarted = await start("express", env);
    await eventually(() => expect(receiver.received).toHaveLength(2), 20_000);
    const [lost, delivered] = receiver.received.map((request) =>
      verifyWebhookSignature(
        request.body,
        request.headers["keyguard-signature"] as string,
        created.body.secret,
      ),
    );
    expect(delivered?.id).toBe(lost?.id);
    expect(delivered?.type).toBe("organization.created");
    await eventually(async () => {
      const page = await admin(restarted, "GET", `/webhooks/${created.body.id}/deliveries`);
      expect(page.body.items).toHaveLength(1);
      expect(page.body.items[0]).toMatchObject({ event_id: delivered?.id, status: "delivered" });
      // The killed attempt left no record; the restart's is the delivery's second.
      expect(page.body.items[0].attempts).toMatchObject([{ attempt: 2, status_code: 200 }]);
    }, 10_000);
  });

  describe.runIf(pgAvailable)("on one PostgreSQL", () => {
    it("has three servers deliver each of 45 events exactly once", async () => {
      const schema = uniqueSchemaName("webhooks3");
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      cleanups.push(() => dropSchema(schema));
      const env = {
        KEYGUARD_DATABASE_URL: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`,
      };
      const receiver = await startWebhookReceiver();
      cleanups.push(() => receiver.close());
      const servers = [
        await start("express", env),
        await start("fastify", env),
        await start("koa", env),
      ];
      const [one] = servers as [ExampleProcess];
      const created = await admin(one, "POST", "/webhooks", {
        url: receiver.url,
        events: ["organization.created"],
      });
      expect(created.status).toBe(201);
      const events = 45;
      await Promise.all(
        Array.from({ length: events }, async (_, i) => {
          const server = servers[i % 3] as ExampleProcess;
          expect((await admin(server, "POST", "/orgs", { name: `Org ${i}` })).status).toBe(201);
        }),
      );
      await eventually(async () => {
        const page = await admin(one, "GET", `/webhooks/${created.body.id}/deliveries?limit=200`);
        expect(
          page.body.items.filter((d: { status: string }) => d.status === "delivered"),
        ).toHaveLength(events);
      }, 30_000);
      // Stop every server (each hands back nothing: all delivered), then count arrivals.
      for (const server of servers) server.child.kill("SIGTERM");
      await Promise.all(servers.map((server) => server.exited));
      const ids = receiver.received.map(
        (request) =>
          verifyWebhookSignature(
            request.body,
            request.headers["keyguard-signature"] as string,
            created.body.secret,
          ).id,
      );
      expect(ids).toHaveLength(events);
      expect(new Set(ids).size).toBe(events);
    });
  });
});
