// The whole core API, so an app installs and imports this package alone (plus its driver).
export * from "@keyguard/core";
export { keyguardAdmin, keyguardAdminDocs } from "./keyguard-admin.js";
export { keyguardDashboard } from "./keyguard-dashboard.js";
export { keyguardMetrics } from "./keyguard-metrics.js";
export { type KeyGuardExpressOptions, keyguard } from "./keyguard-middleware.js";
export { type ProblemErrorHandlerOptions, problemErrorHandler } from "./problem-error-handler.js";
export { blockRequest, rateLimitByIp } from "./rate-limit-by-ip.js";
export { requireScopes } from "./require-scopes.js";
