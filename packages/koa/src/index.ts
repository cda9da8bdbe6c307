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
  type ProblemDetails,
  type RequestCost,
  verifyWebhookSignature,
  WebhookSignatureError,
} from "@keyguard/core";
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
