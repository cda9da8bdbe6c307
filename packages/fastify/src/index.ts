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
export {
  blockRequest,
  type KeyGuardFastifyOptions,
  type KeyGuardRouteConfig,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "./keyguard-plugin.js";
