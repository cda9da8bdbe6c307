// The whole core API, so an app installs and imports this package alone (plus its driver).
export * from "@keyguard/core";
export {
  type KeyGuardAdminFastifyOptions,
  keyguardAdmin,
  keyguardAdminDocs,
} from "./keyguard-admin.js";
export { keyguardDashboard } from "./keyguard-dashboard.js";
export { keyguardMetrics } from "./keyguard-metrics.js";
export {
  type KeyGuardFastifyOptions,
  type KeyGuardRouteConfig,
  keyguard,
} from "./keyguard-plugin.js";
export {
  createProblemErrorHandler,
  type ProblemErrorHandler,
  type ProblemErrorHandlerOptions,
  problemErrorHandler,
} from "./problem-error-handler.js";
export { blockRequest, rateLimitByIp } from "./rate-limit-by-ip.js";
export { requireScopes } from "./require-scopes.js";
