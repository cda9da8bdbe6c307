export { type KeyGuardExpressOptions, keyguard } from "./keyguard-middleware.js";
export { blockRequest, rateLimitByIp } from "./rate-limit-by-ip.js";
export { requireScopes } from "./require-scopes.js";
