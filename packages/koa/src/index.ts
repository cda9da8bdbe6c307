export { type KeyGuardKoaOptions, keyguard, requireScopes } from "./keyguard-middleware.js";
