import { checkAdminApiUrl, dashboardResponse } from "@keyguard/dashboard";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";

/**
 * The dashboard (a web console over the admin API) as an encapsulated Fastify plugin:
 * `await app.register(keyguardDashboard, { prefix: "/dashboard", adminApiUrl: "/admin" })`.
 * It serves static files only, outside `keyguard()`; sign-in is the admin key.
 */
export const keyguardDashboard: FastifyPluginAsync<{ adminApiUrl?: string }> = async (
  app,
  options,
) => {
  const adminApiUrl = checkAdminApiUrl(options.adminApiUrl);
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const subPath = `/${(request.params as { "*"?: string })["*"] ?? ""}`;
    const answer = await dashboardResponse(subPath, { mountPath: app.prefix, adminApiUrl });
    if (answer === undefined) return reply.callNotFound();
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
  for (const url of ["/", "/*"]) app.get(url, { config: { keyguard: false } }, handler);
};
