import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { rawRequest } from "@keyguard/testkit";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { keyguard } from "../src/index.js";
import { routeProtection } from "../src/route-protection.js";

describe("routeProtection", () => {
  it.each([
    ["/api", "/api", "always"],
    ["/api/data", "/api", "always"],
    ["/API/data", "/api", "always"],
    ["/api/users/:id", "/api", "always"],
    ["/api/*", "/api", "always"],
    ["/health", "/api", "never"],
    ["/apiary", "/api", "never"],
    ["/", "/api", "never"],
    ["/api", "/api/v1", "never"],
    ["/:tenant/data", "/api", "depends"],
    ["/*", "/api", "depends"],
    ["/api-:version", "/api", "depends"],
    ["/api/:v/data", "/api/v1", "depends"],
    ["/anything", undefined, "always"],
  ] as const)("%s under %s: %s", (url, protectedPath, expected) => {
    expect(routeProtection(url, protectedPath)).toBe(expected);
  });
});

describe("Fastify: protection decided on the route the request reaches", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(register: (app: FastifyInstance, kg: KeyGuard) => Promise<void>) {
    const directory = mkdtempSync(join(tmpdir(), "kg-fastify-routes-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const store = await createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` });
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "fastify-route-secret" }, {}),
      store,
      limiter: new MemoryLimiter(),
    });
    await kg.init();
    cleanups.push(() => kg.close());
    const ran: string[] = [];
    const app = Fastify();
    app.decorate("ran", ran);
    await register(app, kg);
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    cleanups.push(() => app.close());
    await kg.createOrganization("Acme Corp");
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    const get = async (target: string, key?: string, method = "GET") => {
      const head = `${method} ${target} HTTP/1.1\r\nHost: x\r\n${key === undefined ? "" : `X-API-KEY: ${key}\r\n`}Connection: close\r\n\r\n`;
      return (await rawRequest(url, head)).status;
    };
    return { ran, rawKey, get };
  }

  it("guards a parametric route where it can match the protected path, per request", async () => {
    const { ran, rawKey, get } = await start(async (app, kg) => {
      await app.register(keyguard, { kg, protectedPath: "/api" });
      app.get("/:tenant/data", async (request) => {
        (app as unknown as { ran: string[] }).ran.push(
          (request.params as { tenant: string }).tenant,
        );
        return { ok: true };
      });
    });
    for (const target of ["/api/data", "http://h/api/data", "/%61pi/data#%zz", "/api;x/data"]) {
      expect(await get(target), target).toBe(401);
    }
    expect(ran).toEqual([]);
    expect(await get("/api/data", rawKey)).toBe(200);
    expect(await get("/other/data")).toBe(200);
    expect(ran).toEqual(["api", "other"]);
  });

  it("guards routes added before the plugin, HEAD routes and unknown paths under the prefix", async () => {
    const { ran, rawKey, get } = await start(async (app, kg) => {
      app.get("/api/early", async () => {
        (app as unknown as { ran: string[] }).ran.push("early");
        return { ok: true };
      });
      await app.register(keyguard, { kg, protectedPath: "/api" });
      app.get("/api/late", async () => {
        (app as unknown as { ran: string[] }).ran.push("late");
        return { ok: true };
      });
    });
    for (const target of ["/api/early", "http://h/api/early", "/api/early#x", "/api/late"]) {
      expect(await get(target), target).toBe(401);
      expect(await get(target, undefined, "HEAD"), `HEAD ${target}`).toBe(401);
    }
    expect(await get("/api/missing")).toBe(401);
    expect(ran).toEqual([]);
    expect(await get("/api/early", rawKey)).toBe(200);
    expect(await get("/api/late", rawKey)).toBe(200);
    expect(await get("/api/missing", rawKey)).toBe(404);
    expect(ran).toEqual(["early", "late"]);
  });

  it("guards the routes of plugins registered after it, with their prefix", async () => {
    const { ran, get } = await start(async (app, kg) => {
      await app.register(keyguard, { kg, protectedPath: "/api/v1" });
      await app.register(
        async (child) => {
          child.get("/things", async () => {
            (app as unknown as { ran: string[] }).ran.push("things");
            return [];
          });
        },
        { prefix: "/api/v1" },
      );
      app.get("/api/v2/things", async () => []);
    });
    expect(await get("/api/v1/things")).toBe(401);
    expect(await get("http://h/API/v1/things")).toBe(401);
    expect(await get("/api/v2/things")).toBe(200);
    expect(ran).toEqual([]);
  });
});
