import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdapterConcurrencyConformance,
  describeAdapterConformance,
  type StartAdapterApp,
  serveNodeServer,
} from "@keyguard/testkit";
import Router from "@koa/router";
import Koa from "koa";
import { blockRequest, keyguard, rateLimitByIp, requireScopes } from "../src/index.js";

const startKoa: StartAdapterApp = async (kg, options, record) => {
  const app = new Koa();
  const router = new Router();
  router.get("/health", (ctx) => {
    record("/health", ctx.state.apiKey);
    ctx.body = { status: "ok" };
  });
  router.get("/api/data", (ctx) => {
    record("/api/data", ctx.state.apiKey);
    ctx.body = { message: "Authorized!" };
  });
  router.get("/api/profile", (ctx) => {
    record("/api/profile", ctx.state.apiKey);
    const key = ctx.state.apiKey;
    ctx.body = { org_id: key?.orgId, key_label: key?.label, scopes: key?.scopes };
  });
  router.get("/api/slow", async (ctx) => {
    await record("/api/slow", ctx.state.apiKey);
    ctx.body = { ok: true };
  });
  router.get("/api/admin", requireScopes("admin"), (ctx) => {
    record("/api/admin", ctx.state.apiKey);
    ctx.body = { ok: true };
  });
  router.get("/api/fail", (ctx) => {
    record("/api/fail", ctx.state.apiKey);
    ctx.status = 500;
    ctx.body = { error: "boom" };
  });
  router.post("/api/withdraw", async (ctx) => {
    record("/api/withdraw", ctx.state.apiKey);
    await blockRequest(kg, ctx, { duration: "1 hour", scope: "path" });
    ctx.body = { error: "Suspicious activity. Endpoint locked for 1 hour." };
  });
  router.get("/search", rateLimitByIp(kg, { limit: 5 }), (ctx) => {
    record("/search", ctx.state.apiKey);
    ctx.body = { results: [] };
  });
  router.post("/login", rateLimitByIp(kg, { limit: 3, lockout: "1 hour" }), (ctx) => {
    record("/login", ctx.state.apiKey);
    ctx.body = { ok: true };
  });
  router.post("/signup", rateLimitByIp(kg, { limit: 2, lockout: "4:00 PM" }), (ctx) => {
    record("/signup", ctx.state.apiKey);
    ctx.body = { ok: true };
  });
  router.post("/heavy", rateLimitByIp(kg, { limit: 1, lockout: 600, scope: "global" }), (ctx) => {
    record("/heavy", ctx.state.apiKey);
    ctx.body = { ok: true };
  });
  app.use(keyguard(kg, options));
  app.use(router.routes());
  return serveNodeServer(app.listen(0, "127.0.0.1"));
};

const onSqliteAndMemory = {
  openStore: (directory: string) =>
    createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` }),
  createLimiter: () => new MemoryLimiter(),
};

describeAdapterConformance("Koa", startKoa, onSqliteAndMemory);
describeAdapterConcurrencyConformance("Koa", startKoa, onSqliteAndMemory);
