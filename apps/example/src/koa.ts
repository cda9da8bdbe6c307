import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type ApiKeyInfo,
  answerClientError,
  blockRequest,
  keyguard,
  keyguardAdmin,
  keyguardAdminDocs,
  keyguardDashboard,
  keyguardMetrics,
  problemErrorHandler,
  rateLimitByIp,
} from "@keyguard/koa";
import Router from "@koa/router";
import Koa from "koa";
import {
  ADMIN_PREFIX,
  DASHBOARD_PREFIX,
  DOCS_PREFIX,
  LOGIN_LIMIT,
  OPENAPI_URL,
  PROTECTED_PATH,
  port,
  REPORT_COST,
  serverTimeouts,
  WITHDRAW_LOCKOUT,
  WITHDRAW_REFUSAL,
} from "./example-settings.js";
import { listen } from "./listen.js";
import { runExample } from "./run-example.js";
import { usageReport } from "./usage-report.js";

await runExample("koa", async (kg) => {
  const app = new Koa();
  // A costlier route has a guard of its own, on a router used before the app-wide guard:
  // answered there, its requests never reach that one (which would charge them 1 more).
  const costly = new Router();
  costly.get("/api/report", keyguard(kg, { cost: REPORT_COST }), async (ctx) => {
    ctx.body = await usageReport(kg, ctx.state.apiKey as ApiKeyInfo);
  });
  const router = new Router();
  // Prometheus scrapes this; behind the admin key unless KEYGUARD_METRICS_PUBLIC=true.
  router.get("/metrics", keyguardMetrics(kg));
  router.get("/health", (ctx) => {
    ctx.body = { status: "ok" };
  });
  router.get("/api/data", (ctx) => {
    ctx.body = { message: "Authorized!" };
  });
  router.get("/api/profile", (ctx) => {
    const key = ctx.state.apiKey;
    ctx.body = { org_id: key?.orgId, key_label: key?.label, scopes: key?.scopes };
  });
  router.post("/login", rateLimitByIp(kg, LOGIN_LIMIT), (ctx) => {
    ctx.body = { message: "Login attempt accepted" };
  });
  router.post("/api/withdraw", async (ctx) => {
    await blockRequest(kg, ctx, WITHDRAW_LOCKOUT);
    ctx.body = WITHDRAW_REFUSAL;
  });
  // First: every error thrown below is answered as problem+json, never Koa's text answer;
  // 5xx are emitted as the app's "error" event (Koa logs them to stderr).
  app.use(problemErrorHandler());
  app.use(keyguardAdmin(kg, { prefix: ADMIN_PREFIX }));
  app.use(keyguardAdminDocs({ prefix: DOCS_PREFIX, openApiUrl: OPENAPI_URL }));
  app.use(keyguardDashboard({ prefix: DASHBOARD_PREFIX, adminApiUrl: ADMIN_PREFIX }));
  app.use(costly.routes());
  app.use(keyguard(kg, { protectedPath: PROTECTED_PATH }));
  app.use(router.routes());
  const server = createServer(serverTimeouts(), app.callback());
  server.on("clientError", answerClientError);
  await listen(server, port());
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    closeAllConnections: () => server.closeAllConnections(),
  };
});
