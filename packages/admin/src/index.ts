export {
  AdminApi,
  type AdminApiOptions,
  type AdminRequest,
  type AdminResponse,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
} from "./admin-api.js";
export {
  type AdminDocsAsset,
  adminDocsAsset,
  adminDocsPage,
  adminDocsResponse,
} from "./admin-docs.js";
export { ADMIN_ROUTES, type AdminRoute } from "./admin-routes.js";
export type { AdminWire } from "./admin-wire.js";
export { readNodeBody } from "./read-node-body.js";
