// The whole core API, so an app installs and imports this package alone (plus its driver).
export * from "@keyguard/core";
export {
  blockRequest,
  type KeyGuardKoaOptions,
  keyguard,
  rateLimitByIp,
  requireScopes,
} from "./keyguard-middleware.js";
