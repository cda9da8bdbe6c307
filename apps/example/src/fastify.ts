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
} from "@keyguard/fastify";
import Fastify from "fastify";
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
import { runExample } from "./run-example.js";
import { usageReport } from "./usage-report.js";

await runExample("fastify", async (kg) => {
  const timeouts = serverTimeouts();
  const app = Fastify({
    clientErrorHandler: answerClientError,
    requestTimeout: timeouts.requestTimeout, // Fastify's default is 0: no bound at all
    http: timeouts,
    // problemErrorHandler reports 5xx through request.log: errors only, to stderr.
    logger: { level: "error", stream: process.stderr },
  });
  // Before the plugins, so they inherit it: problem+json for every error, and never
  // error.message (Fastify's default handler sends it, even for a 500).
  app.setErrorHandler(problemErrorHandler);
  await app.register(keyguard, { kg, protectedPath: PROTECTED_PATH });
  await app.register(keyguardAdmin, { kg, prefix: ADMIN_PREFIX });
  await app.register(keyguardAdminDocs, { prefix: DOCS_PREFIX, openApiUrl: OPENAPI_URL });
  await app.register(keyguardDashboard, { prefix: DASHBOARD_PREFIX, adminApiUrl: ADMIN_PREFIX });
  app.get("/health", async () => ({ status: "ok" }));
  // Prometheus scrapes this; behind the admin key unless KEYGUARD_METRICS_PUBLIC=true.
  app.get("/metrics", keyguardMetrics(kg));
  app.get("/api/data", async () => ({ message: "Authorized!" }));
  app.get("/api/profile", async (request) => ({
    org_id: request.apiKey?.orgId,
    key_label: request.apiKey?.label,
    scopes: request.apiKey?.scopes,
  }));
  // Spends REPORT_COST of the key's limits per request instead of 1.
  app.get("/api/report", { config: { keyguard: { cost: REPORT_COST } } }, (request) =>
    usageReport(kg, request.apiKey as ApiKeyInfo),
  );
  app.post("/login", { onRequest: rateLimitByIp(kg, LOGIN_LIMIT) }, async () => ({
    message: "Login attempt accepted",
  }));
  app.post("/api/withdraw", async (request) => {
    await blockRequest(kg, request, WITHDRAW_LOCKOUT);
    return WITHDRAW_REFUSAL;
  });
  await app.listen({ port: port(), host: "::" });
  return {
    port: (app.server.address() as AddressInfo).port,
    close: () => app.close(),
    closeAllConnections: () => app.server.closeAllConnections(),
  };
});
