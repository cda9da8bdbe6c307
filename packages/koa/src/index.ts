export {
  blockRequest,
  type KeyGuardKoaOptions,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "./keyguard-middleware.js";
