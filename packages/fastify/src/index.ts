export {
  type KeyGuardFastifyOptions,
  type KeyGuardRouteConfig,
  keyguard,
  requireScopes,
} from "./keyguard-plugin.js";
