import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdapterConcurrencyConformance,
  describeAdapterConformance,
  type StartAdapterApp,
} from "@keyguard/testkit";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import {
  answerClientError,
  blockRequest,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "../src/index.js";

const startFastify: StartAdapterApp = async (kg, options, record) => {
  const app = Fastify({ clientErrorHandler: answerClientError });
  await app.register(keyguard, { kg, ...options });
  app.get("/health", async (request) => {
    record("/health", request.apiKey);
    return { status: "ok" };
  });
  app.get("/api/data", async (request) => {
    record("/api/data", request.apiKey);
    return { message: "Authorized!" };
  });
  app.get("/api/profile", async (request) => {
    record("/api/profile", request.apiKey);
    return {
      org_id: request.apiKey?.orgId,
      key_label: request.apiKey?.label,
      scopes: request.apiKey?.scopes,
    };
  });
  app.get("/api/admin", { config: { keyguard: { scopes: ["admin"] } } }, async (request) => {
    record("/api/admin", request.apiKey);
    return { ok: true };
  });
  app.get("/api/slow", async (request) => {
    await record("/api/slow", request.apiKey);
    return { ok: true };
  });
  app.get("/api/fail", async (request, reply) => {
    record("/api/fail", request.apiKey);
    return reply.code(500).send({ error: "boom" });
  });
  app.post("/api/withdraw", async (request) => {
    record("/api/withdraw", request.apiKey);
    await blockRequest(kg, request, { duration: "1 hour", scope: "path" });
    return { error: "Suspicious activity. Endpoint locked for 1 hour." };
  });
  app.get("/search", { onRequest: rateLimitByIp(kg, { limit: 5 }) }, async (request) => {
    record("/search", request.apiKey);
    return { results: [] };
  });
  app.post(
    "/login",
    { onRequest: rateLimitByIp(kg, { limit: 3, lockout: "1 hour" }) },
    async (request) => {
      record("/login", request.apiKey);
      return { ok: true };
    },
  );
  app.post(
    "/signup",
    { onRequest: rateLimitByIp(kg, { limit: 2, lockout: "4:00 PM" }) },
    async (request) => {
      record("/signup", request.apiKey);
      return { ok: true };
    },
  );
  app.post(
    "/heavy",
    { onRequest: rateLimitByIp(kg, { limit: 1, lockout: 600, scope: "global" }) },
    async (request) => {
      record("/heavy", request.apiKey);
      return { ok: true };
    },
  );
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { url, close: () => app.close() };
};

const onSqliteAndMemory = {
  openStore: (directory: string) =>
    createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` }),
  createLimiter: () => new MemoryLimiter(),
};

describeAdapterConformance("Fastify", startFastify, onSqliteAndMemory);
describeAdapterConcurrencyConformance("Fastify", startFastify, onSqliteAndMemory);

describe("Fastify route opt-in and opt-out", () => {
  it("protects routes by config alone, skips opted-out ones, and checks requireScopes", async () => {
    const { KeyGuard, resolveConfig } = await import("@keyguard/core");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const store = await createKyselyStore({
      url: `sqlite:${join(mkdtempSync(join(tmpdir(), "kg-fastify-")), "k.db")}`,
    });
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "fastify-opt-secret" }, {}),
      store,
      limiter: new MemoryLimiter(),
    });
    await kg.init();
    const app = Fastify();
    await app.register(keyguard, { kg, protectedPath: "/api" });
    app.get("/open", async () => ({ open: true }));
    app.get("/private", { config: { keyguard: true } }, async () => ({ private: true }));
    app.get("/api/public", { config: { keyguard: false } }, async () => ({ public: true }));
    app.get("/api/ops", { preHandler: requireScopes("ops") }, async () => ({ ops: true }));
    await kg.createOrganization("Acme Corp");
    const { rawKey } = await kg.createApiKey({
      organization: "Acme Corp",
      label: "k",
      scopes: ["read"],
    });
    try {
      expect((await app.inject({ url: "/open" })).statusCode).toBe(200);
      expect((await app.inject({ url: "/private" })).statusCode).toBe(401);
      expect(
        (await app.inject({ url: "/private", headers: { "x-api-key": rawKey } })).statusCode,
      ).toBe(200);
      expect((await app.inject({ url: "/api/public" })).statusCode).toBe(200);
      const ops = await app.inject({ url: "/api/ops", headers: { "x-api-key": rawKey } });
      expect(ops.statusCode).toBe(403);
      expect(ops.json().code).toBe("insufficient_scope");
    } finally {
      await app.close();
      await kg.close();
    }
  });
});
