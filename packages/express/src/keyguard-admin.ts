import { AdminApi, type AdminApiOptions, adminDocsResponse, readNodeBody } from "@keyguard/admin";
import type { KeyGuard } from "@keyguard/core";
import { type Request, type RequestHandler, type Response, Router } from "express";
import { toGuardRequest } from "./request-bridge.js";

/**
 * The admin API as an Express router: mount it where you want it, before any body parser
 * (it reads and limits bodies itself). Never behind `keyguard()`: it has its own auth.
 *
 * @example
 * ```ts
 * app.use("/admin", keyguardAdmin(kg));           // X-Admin-Key: the secret key
 * app.use("/admin", keyguardAdmin(kg, { adminKey: process.env.ADMIN_KEY }));
 * ```
 */
export function keyguardAdmin(kg: KeyGuard, options: AdminApiOptions = {}): Router {
  const api = new AdminApi(kg, options);
  const router = Router();
  router.use((req: Request, res: Response, next) => {
    api
      .handle({
        ...toGuardRequest(req),
        subPath: req.path,
        query: req.query as Record<string, string | string[] | undefined>,
        readBody: () => readNodeBody(req, api.maxBodyBytes, req.body),
      })
      .then((answer) => {
        res.status(answer.status).set(answer.headers).send(answer.body);
      }, next);
  });
  return router;
}

/**
 * Swagger UI for the admin API, served from the `swagger-ui-dist` package (install it):
 * `app.use("/docs", keyguardAdminDocs({ openApiUrl: "/admin/openapi.json" }))`.
 */
export function keyguardAdminDocs(options: { openApiUrl: string }): RequestHandler {
  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    const mountPath = req.baseUrl;
    adminDocsResponse(req.path, { openApiUrl: options.openApiUrl, mountPath }).then((answer) => {
      if (answer === undefined) return next();
      res.status(answer.status).set(answer.headers).send(answer.body);
    }, next);
  };
}
