export { type KeyGuardExpressOptions, keyguard, requireScopes } from "./keyguard-middleware.js";
