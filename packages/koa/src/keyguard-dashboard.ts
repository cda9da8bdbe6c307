import { createPathMatcher } from "@keyguard/core/internal";
import { checkAdminApiUrl, dashboardResponse } from "@keyguard/dashboard";
import type { Middleware } from "koa";
import { routedPath } from "./keyguard-middleware.js";

/**
 * The dashboard (a web console over the admin API) as Koa middleware answering under
 * `prefix`: `app.use(keyguardDashboard({ prefix: "/dashboard", adminApiUrl: "/admin" }))`.
 * It serves static files only, outside `keyguard()`; sign-in is the admin key.
 */
export function keyguardDashboard(options: { prefix: string; adminApiUrl?: string }): Middleware {
  const prefix = options.prefix.replace(/\/+$/, "");
  const adminApiUrl = checkAdminApiUrl(options.adminApiUrl);
  const underPrefix = createPathMatcher(prefix);
  return async (ctx, next) => {
    const path = routedPath(ctx);
    if (
      (ctx.method !== "GET" && ctx.method !== "HEAD") ||
      path === undefined ||
      !underPrefix(path)
    ) {
      return next();
    }
    const answer = await dashboardResponse(path.slice(prefix.length), {
      mountPath: prefix,
      adminApiUrl,
    });
    if (answer === undefined) return next();
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  };
}
