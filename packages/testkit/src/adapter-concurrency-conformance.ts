import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiKeyInfo, type ConcurrencySpec, KeyGuard, resolveConfig } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterConformanceOptions, StartAdapterApp } from "./adapter-conformance.js";
import { eventually } from "./eventually.js";

/**
 * A request the app holds in flight: `GET /api/slow` waits on `record`'s promise, so the
 * test decides when its handler answers (`finish`) or fails (`fail`: the handler throws
 * and the framework's error handling answers).
 */
interface HeldRequest {
  readonly apiKey: ApiKeyInfo | null | undefined;
  finish(): void;
  fail(): void;
}

/** How long a cross-process effect (a response closing, a socket dying) may take here. */
const SETTLE_MS = 5_000;
const SECRET = "adapter-concurrency-secret";

/**
 * Concurrency caps over real HTTP, for one adapter: the reference app (see
 * `StartAdapterApp`) with one more route, `GET /api/slow`, whose handler first awaits
 * `record("/api/slow", key)` (a promise here) and then answers `{ "ok": true }`, or
 * throws if that promise rejects.
 */
export function describeAdapterConcurrencyConformance(
  name: string,
  start: StartAdapterApp,
  options: AdapterConformanceOptions,
): void {
  describe(`Adapter concurrency conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup() {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-concurrency-"));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const kg = new KeyGuard({
        config: resolveConfig(
          { secretKey: SECRET, ipBlockThreshold: 1_000, usage: { flushIntervalMs: 60_000 } },
          {},
        ),
        store: await options.openStore(directory),
        limiter: options.createLimiter(),
      });
      await kg.init();
      cleanups.push(() => kg.close());
      const held: HeldRequest[] = [];
      const app = await start(kg, { protectedPath: "/api" }, (route, apiKey) => {
        if (route !== "/api/slow") return;
        return new Promise<void>((resolve, reject) => {
          held.push({ apiKey, finish: resolve, fail: () => reject(new Error("held and failed")) });
        });
      });
      // Whatever a test left in flight ends before the app closes.
      cleanups.push(() => app.close());
      cleanups.push(() => {
        for (const request of held) request.finish();
      });
      const org = await kg.createOrganization("Acme Corp");
      const key = async (concurrency?: ConcurrencySpec) =>
        (
          await kg.createApiKey({
            organization: "Acme Corp",
            label: "k",
            rateLimitPerMinute: 1_000,
            ...(concurrency === undefined ? {} : { concurrency }),
          })
        ).rawKey;
      const get = (path: string, rawKey: string) =>
        fetch(`${app.url}${path}`, { headers: { "x-api-key": rawKey } });
      const inFlight = async (count: number) =>
        eventually(() => expect(held).toHaveLength(count), SETTLE_MS);
      return { kg, app, org, key, get, held, inFlight };
    }

    async function expectConcurrencyLimited(response: Response, policy: string) {
      expect(response.status).toBe(429);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(response.headers.get("retry-after")).toBe("1");
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ status: 429, code: "concurrency_limited" });
      expect(body["violated-policies"]).toEqual([policy]);
    }

    it("refuses the request past the cap with 429 concurrency_limited and its fields, and lets one through once a slot is back", async () => {
      const { key, get, held, inFlight } = await setup();
      const rawKey = await key({ limit: 2 });
      const slow = [get("/api/slow", rawKey), get("/api/slow", rawKey)];
      await inFlight(2);
      const refused = await get("/api/data", rawKey);
      expect(refused.headers.get("ratelimit-policy")).toContain(
        '"concurrency";q=2;qu="concurrent-requests"',
      );
      expect(refused.headers.get("ratelimit")).toContain('"concurrency";r=0');
      await expectConcurrencyLimited(refused, "concurrency");
      for (const request of held) request.finish();
      for (const response of await Promise.all(slow)) {
        expect(response.status).toBe(200);
        expect(response.headers.get("ratelimit")).toMatch(/"concurrency";r=[01]/);
      }
      // The slots come back as the responses close (just after the client has them).
      await eventually(async () => {
        const response = await get("/api/data", rawKey);
        expect(response.status).toBe(200);
        expect(response.headers.get("ratelimit")).toContain('"concurrency";r=1');
      }, SETTLE_MS);
    });

    it("frees the slot of a client that hangs up mid-request", async () => {
      const { app, key, get, inFlight } = await setup();
      const rawKey = await key({ limit: 1 });
      const socket = await rawSlowRequest(new URL(app.url), rawKey);
      await inFlight(1);
      await expectConcurrencyLimited(await get("/api/data", rawKey), "concurrency");
      socket.destroy();
      await eventually(async () => {
        expect((await get("/api/data", rawKey)).status).toBe(200);
      }, SETTLE_MS);
    });

    it("logs a request whose client hung up mid-request, once, when its connection closes", async () => {
      const { kg, app, key, held, inFlight } = await setup();
      const rawKey = await key({ limit: 1 });
      const socket = await rawSlowRequest(new URL(app.url), rawKey);
      await inFlight(1);
      expect(kg.usageStats.buffered).toBe(0); // still in flight: nothing logged yet
      socket.destroy();
      await eventually(() => expect(kg.usageStats.buffered).toBe(1), SETTLE_MS);
      // The handler answering into the closed connection logs nothing more.
      (held[0] as HeldRequest).finish();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(kg.usageStats.buffered).toBe(1);
    });

    it("frees the slot of a request whose handler failed", async () => {
      const { key, get, held, inFlight } = await setup();
      const rawKey = await key({ limit: 1 });
      const failing = get("/api/slow", rawKey);
      await inFlight(1);
      (held[0] as HeldRequest).fail();
      expect((await failing).status).toBe(500);
      await eventually(async () => {
        expect((await get("/api/data", rawKey)).status).toBe(200);
      }, SETTLE_MS);
    });

    it("shares an organization's cap across its keys", async () => {
      const { kg, key, get, held, inFlight } = await setup();
      await kg.setOrganizationConcurrency("Acme Corp", { limit: 1 });
      const first = await key();
      const second = await key();
      const slow = get("/api/slow", first);
      await inFlight(1);
      const refused = await get("/api/data", second);
      expect(refused.headers.get("ratelimit-policy")).toContain(
        '"org.concurrency";q=1;qu="concurrent-requests"',
      );
      await expectConcurrencyLimited(refused, "org.concurrency");
      (held[0] as HeldRequest).finish();
      expect((await slow).status).toBe(200);
      await eventually(async () => {
        expect((await get("/api/data", second)).status).toBe(200);
      }, SETTLE_MS);
    });

    it("lets a shadow cap refuse nothing", async () => {
      const { key, get, held, inFlight } = await setup();
      const rawKey = await key({ limit: 1, mode: "shadow" });
      const slow = get("/api/slow", rawKey);
      await inFlight(1);
      const over = await get("/api/data", rawKey);
      expect(over.status).toBe(200);
      // A shadow policy is not advertised: it refuses nothing to pace by.
      expect(over.headers.get("ratelimit-policy") ?? "").not.toContain("concurrency");
      (held[0] as HeldRequest).finish();
      expect((await slow).status).toBe(200);
    });
  });
}

/** `GET /api/slow` over a raw socket left open: the test destroys it to hang up. */
function rawSlowRequest(url: URL, rawKey: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET /api/slow HTTP/1.1\r\nHost: ${url.host}\r\nX-API-KEY: ${rawKey}\r\n\r\n`,
        "latin1",
      );
      resolve(socket);
    });
    socket.on("error", reject);
  });
}
