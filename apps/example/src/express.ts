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
} from "@keyguard/express";
import express from "express";
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

await runExample("express", async (kg) => {
  const app = express();
  app.use(ADMIN_PREFIX, keyguardAdmin(kg));
  app.use(DOCS_PREFIX, keyguardAdminDocs({ openApiUrl: OPENAPI_URL }));
  app.use(DASHBOARD_PREFIX, keyguardDashboard({ adminApiUrl: ADMIN_PREFIX }));
  // A costlier route has a guard of its own, registered before the app-wide one: answered
  // here, its requests never reach that one (which would charge them 1 more).
  app.get("/api/report", keyguard(kg, { cost: REPORT_COST }), async (req, res) => {
    res.json(await usageReport(kg, req.apiKey as ApiKeyInfo));
  });
  app.use(keyguard(kg, { protectedPath: PROTECTED_PATH }));
  // Prometheus scrapes this; behind the admin key unless KEYGUARD_METRICS_PUBLIC=true.
  app.get("/metrics", keyguardMetrics(kg));
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/api/data", (_req, res) => {
    res.json({ message: "Authorized!" });
  });
  app.get("/api/profile", (req, res) => {
    res.json({
      org_id: req.apiKey?.orgId,
      key_label: req.apiKey?.label,
      scopes: req.apiKey?.scopes,
    });
  });
  app.post("/login", rateLimitByIp(kg, LOGIN_LIMIT), (_req, res) => {
    res.json({ message: "Login attempt accepted" });
  });
  app.post("/api/withdraw", async (req, res) => {
    await blockRequest(kg, req, WITHDRAW_LOCKOUT);
    res.json(WITHDRAW_REFUSAL);
  });
  // Last: every error (a handler that throws, a bad request) is answered as problem+json,
  // never Express's HTML page with its stack trace; 5xx go to console.error.
  app.use(problemErrorHandler());
  const server = createServer(serverTimeouts(), app);
  server.on("clientError", answerClientError);
  await listen(server, port());
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    closeAllConnections: () => server.closeAllConnections(),
  };
});
