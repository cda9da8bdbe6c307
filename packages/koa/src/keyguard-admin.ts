import { AdminApi, type AdminApiOptions, adminDocsResponse, readNodeBody } from "@keyguard/admin";
import type { KeyGuard } from "@keyguard/core";
import { createPathMatcher } from "@keyguard/core/internal";
import type { Middleware } from "koa";
import { routedPath, toGuardRequest } from "./keyguard-middleware.js";

export interface KeyGuardAdminKoaOptions extends AdminApiOptions {
  /** Where the admin API answers, e.g. `/admin`. */
  readonly prefix: string;
}

/**
 * The admin API as Koa middleware, answering under `prefix`; use it before any body parser
 * and outside `keyguard()` (it has its own auth).
 *
 * @example
 * ```ts
 * app.use(keyguardAdmin(kg, { prefix: "/admin" }));
 * ```
 */
export function keyguardAdmin(kg: KeyGuard, options: KeyGuardAdminKoaOptions): Middleware {
  const prefix = options.prefix.replace(/\/+$/, "");
  const api = new AdminApi(kg, { ...options, prefix });
  const underPrefix = createPathMatcher(prefix);
  return async (ctx, next) => {
    const path = routedPath(ctx);
    if (path === undefined || !underPrefix(path)) return next();
    const answer = await api.handle({
      ...toGuardRequest(ctx),
      subPath: path.slice(prefix.length) || "/",
      query: ctx.query,
      readBody: () =>
        readNodeBody(ctx.req, api.maxBodyBytes, (ctx.request as { body?: unknown }).body),
    });
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  };
}

/**
 * Swagger UI for the admin API (needs the `swagger-ui-dist` package):
 * `app.use(keyguardAdminDocs({ prefix: "/docs", openApiUrl: "/admin/openapi.json" }))`.
 */
export function keyguardAdminDocs(options: { prefix: string; openApiUrl: string }): Middleware {
  const prefix = options.prefix.replace(/\/+$/, "");
  const underPrefix = createPathMatcher(prefix);
  return async (ctx, next) => {
    const path = routedPath(ctx);
    if (ctx.method !== "GET" || path === undefined || !underPrefix(path)) return next();
    const answer = await adminDocsResponse(path.slice(prefix.length), {
      openApiUrl: options.openApiUrl,
      mountPath: prefix,
    });
    if (answer === undefined) return next();
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  };
}
