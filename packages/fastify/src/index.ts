export {
  blockRequest,
  type KeyGuardFastifyOptions,
  type KeyGuardRouteConfig,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "./keyguard-plugin.js";
