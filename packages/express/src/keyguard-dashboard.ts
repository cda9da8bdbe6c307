import { checkAdminApiUrl, dashboardResponse } from "@keyguard/dashboard";
import type { RequestHandler } from "express";

/**
 * The dashboard (a web console over the admin API) as an Express handler: mount it where
 * it should answer, e.g. `app.use("/dashboard", keyguardDashboard({ adminApiUrl: "/admin" }))`.
 * It serves static files only; sign-in is the admin key, checked by the admin API.
 */
export function keyguardDashboard(options: { adminApiUrl?: string } = {}): RequestHandler {
  const adminApiUrl = checkAdminApiUrl(options.adminApiUrl);
  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    dashboardResponse(req.path, { mountPath: req.baseUrl, adminApiUrl }).then((answer) => {
      if (answer === undefined) return next();
      res.status(answer.status).set(answer.headers).send(answer.body);
    }, next);
  };
}
