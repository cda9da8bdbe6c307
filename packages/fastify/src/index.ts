// The whole core API, so an app installs and imports this package alone (plus its driver).
export * from "@keyguard/core";
export {
  type KeyGuardAdminFastifyOptions,
  keyguardAdmin,
  keyguardAdminDocs,
} from "./keyguard-admin.js";
export {
  blockRequest,
  type KeyGuardFastifyOptions,
  type KeyGuardRouteConfig,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "./keyguard-plugin.js";
export {
  createProblemErrorHandler,
  type ProblemErrorHandler,
  type ProblemErrorHandlerOptions,
  problemErrorHandler,
} from "./problem-error-handler.js";
