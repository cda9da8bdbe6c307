// The core API, so an app needs this package alone (plus its database driver).
export {
  type ApiKeyInfo,
  type BlockOptions,
  createKeyGuard,
  type GuardOptions,
  type IpBlock,
  type IpRateLimitRule,
  isKeyGuardError,
  KeyGuard,
  type KeyGuardConfigInput,
  KeyGuardError,
} from "@keyguard/core";
export { type KeyGuardExpressOptions, keyguard } from "./keyguard-middleware.js";
export { blockRequest, rateLimitByIp } from "./rate-limit-by-ip.js";
export { requireScopes } from "./require-scopes.js";
