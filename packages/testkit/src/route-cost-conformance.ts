import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, type Limiter, resolveConfig, type Store } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterApp } from "./adapter-conformance.js";

/**
 * Starts the adapter's app on port 0 with an app-wide guard (`protectedPath: "/api"`, cost
 * 1) and these routes, each costlier one set up the adapter's own way (Fastify's
 * `config.keyguard.cost`, a per-route middleware in Express and Koa):
 * - `GET /api/data` -> `{ "message": "Authorized!" }`, at the app-wide cost (1)
 * - `GET /api/report` -> `{ "report": "ready" }`, at cost 5
 * - `GET /api/peek` -> `{ "peek": true }`, at cost 0
 * - `GET /api/batch?n=N` -> `{ "batch": true }`, at a cost function answering `Number(n)`
 * - `GET /api/broken` -> never reached: its cost function throws `new Error("cost broke")`
 */
export type StartRouteCostApp = (kg: KeyGuard) => Promise<AdapterApp>;

/**
 * Sets up one guarded route (or the whole guard) with this `cost`, the adapter's way, as
 * far as it goes before serving: creating the middleware, registering the route and
 * readying the app. Throws what the adapter throws there.
 */
export type SetUpRouteCost = (kg: KeyGuard, cost: unknown) => Promise<void> | void;

export interface RouteCostConformanceOptions {
  readonly openStore: (directory: string) => Promise<Store>;
  readonly createLimiter: () => Limiter;
}

/**
 * Per-route cost, over real HTTP: a costly route spends its cost of every window, another
 * route its own, cost 0 checks without spending, a cost function is asked per request,
 * and a wrong cost is refused at setup (a number) or answered 503, never 500 (a function).
 */
export function describeRouteCostConformance(
  name: string,
  start: StartRouteCostApp,
  setUp: SetUpRouteCost,
  options: RouteCostConformanceOptions,
): void {
  describe(`Route cost conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function openKeyGuard() {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-route-cost-"));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const reported: Error[] = [];
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: "route-cost-secret" }, {}),
        store: await options.openStore(directory),
        limiter: options.createLimiter(),
        onBackgroundError: (error) => reported.push(error as Error),
      });
      await kg.init();
      cleanups.push(() => kg.close());
      return { kg, reported };
    }

    async function serve() {
      const { kg, reported } = await openKeyGuard();
      const app = await start(kg);
      cleanups.push(() => app.close());
      await kg.createOrganization("Acme Corp");
      const { rawKey } = await kg.createApiKey({
        organization: "Acme Corp",
        label: "k",
        rateLimitPerMinute: 10,
      });
      const get = (path: string) =>
        fetch(`${app.url}${path}`, { headers: { "x-api-key": rawKey } });
      return { get, reported };
    }

    it("spends the route's cost of the key's window, and another route its own", async () => {
      const { get } = await serve();
      const first = await get("/api/report");
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ report: "ready" });
      expect(first.headers.get("ratelimit-policy")).toBe('"minute";q=10;w=60');
      expect(first.headers.get("ratelimit")).toMatch(/^"minute";r=5;t=\d+$/);
      const data = await get("/api/data");
      expect(data.status).toBe(200);
      expect(data.headers.get("ratelimit")).toMatch(/^"minute";r=4;t=\d+$/);
      // 6 spent: a report (5) no longer fits, a request of cost 1 still does.
      const refused = await get("/api/report");
      expect(refused.status).toBe(429);
      expect(await refused.json()).toMatchObject({ code: "rate_limited" });
      expect(refused.headers.get("ratelimit")).toMatch(/^"minute";r=4;t=\d+$/);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await get("/api/data")).headers.get("ratelimit")).toMatch(/^"minute";r=3;t=\d+$/);
    });

    it("checks without spending at cost 0, and still refuses once the window is spent", async () => {
      const { get } = await serve();
      for (let i = 0; i < 3; i++) {
        const peek = await get("/api/peek");
        expect(peek.status).toBe(200);
        expect(peek.headers.get("ratelimit")).toMatch(/^"minute";r=10;t=\d+$/);
      }
      expect((await get("/api/report")).status).toBe(200);
      expect((await get("/api/report")).status).toBe(200);
      const spent = await get("/api/peek");
      expect(spent.status).toBe(429);
      expect(await spent.json()).toMatchObject({ code: "rate_limited" });
    });

    it("asks a cost function per request", async () => {
      const { get } = await serve();
      const three = await get("/api/batch?n=3");
      expect(three.status).toBe(200);
      expect(await three.json()).toEqual({ batch: true });
      expect(three.headers.get("ratelimit")).toMatch(/^"minute";r=7;t=\d+$/);
      expect((await get("/api/batch?n=7")).headers.get("ratelimit")).toMatch(/^"minute";r=0;/);
      expect((await get("/api/batch?n=1")).status).toBe(429);
    });

    it("answers 503, never 500, when a cost function throws or answers no whole cost", async () => {
      const { get, reported } = await serve();
      for (const path of [
        "/api/broken",
        "/api/batch?n=abc",
        "/api/batch?n=-1",
        "/api/batch?n=1.5",
      ]) {
        const response = await get(path);
        expect(response.status, path).toBe(503);
        expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body.code).toBe("service_unavailable");
        expect(JSON.stringify(body)).not.toMatch(/cost broke/); // nothing internal leaks
      }
      // The application hears why (503s are reported once per kind and interval: the first).
      expect(reported[0]?.message).toMatch(/cost function threw: cost broke/);
      // Nothing was spent by the refused requests.
      expect((await get("/api/data")).headers.get("ratelimit")).toMatch(/^"minute";r=9;t=\d+$/);
    });

    it.each([
      ["a negative number", -1],
      ["NaN", Number.NaN],
      ["a fraction", 1.5],
      ["more than 1,000,000,000", 2_000_000_000],
      ["Infinity", Number.POSITIVE_INFINITY],
      ["a string", "5"],
    ])("refuses %s as a cost when the route is set up", async (_what, cost) => {
      const { kg } = await openKeyGuard();
      let thrown: unknown;
      try {
        await setUp(kg, cost);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect((thrown as { code?: string }).code).toBe("invalid_config");
      expect((thrown as Error).message).toMatch(
        /cost must be a whole number from 0 to 1,000,000,000 or a function of the request/,
      );
    });

    it("accepts 0, 1,000,000,000 and a function when the route is set up", async () => {
      const { kg } = await openKeyGuard();
      for (const cost of [0, 1_000_000_000, () => 2]) await setUp(kg, cost);
    });
  });
}
