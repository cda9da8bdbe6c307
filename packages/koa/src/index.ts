// The whole core API, so an app installs and imports this package alone (plus its driver).
export * from "@keyguard/core";
export {
  type KeyGuardAdminKoaOptions,
  keyguardAdmin,
  keyguardAdminDocs,
} from "./keyguard-admin.js";
export { keyguardDashboard } from "./keyguard-dashboard.js";
export { type KeyGuardMetricsKoaOptions, keyguardMetrics } from "./keyguard-metrics.js";
export {
  blockRequest,
  type KeyGuardKoaOptions,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "./keyguard-middleware.js";
export { type ProblemErrorHandlerOptions, problemErrorHandler } from "./problem-error-handler.js";
