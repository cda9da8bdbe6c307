// What an app using this adapter needs from core, so it installs and imports this package
// alone (plus its driver): the service, its errors and options, and webhook signature checks.
// The rest of core's public API is imported from @keyguard/core itself.
export {
  type ApiKeyInfo,
  answerClientError,
  type BlockOptions,
  type CreateKeyGuardOptions,
  createKeyGuard,
  ERROR_CODES,
  type ErrorCode,
  type GuardOptions,
  type IpBlock,
  type IpRateLimitRule,
  isKeyGuardError,
  type KeyGuard,
  type KeyGuardConfigInput,
  KeyGuardError,
  type MetricsEndpointOptions,
  type ProblemDetails,
  type RequestCost,
  verifyWebhookSignature,
  WebhookSignatureError,
} from "@keyguard/core";
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
