import type { Readable } from "node:stream";
import { AdminApi, type AdminApiOptions, adminDocsResponse, readNodeBody } from "@keyguard/admin";
import type { KeyGuard } from "@keyguard/core";
import { PROBLEM_CONTENT_TYPE, problemFor } from "@keyguard/core/internal";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { toGuardRequest } from "./request-bridge.js";

export interface KeyGuardAdminFastifyOptions extends AdminApiOptions {
  readonly kg: KeyGuard;
}

/**
 * The admin API as an encapsulated Fastify plugin: register it with a prefix. It reads
 * bodies itself, after authentication (its content-type parser hands the stream through
 * unread), limited to `maxBodyBytes`; its routes opt out of `keyguard()` (it has its own
 * auth).
 *
 * @example
 * ```ts
 * await app.register(keyguardAdmin, { kg, prefix: "/admin" });
 * ```
 */
export const keyguardAdmin: FastifyPluginAsync<KeyGuardAdminFastifyOptions> = async (
  app,
  options,
) => {
  const { kg, ...apiOptions } = options;
  const api = new AdminApi(kg, { ...apiOptions, prefix: app.prefix || "/" });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, { payload }));
  // Anything Fastify itself refuses becomes a problem like every other answer.
  app.setErrorHandler((_error, _request, reply) => {
    const problem = problemFor("invalid_input", "The request could not be read.");
    return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const answer = await api.handle({
      ...toGuardRequest(request),
      subPath: subPathOf(request),
      query: request.query as Record<string, string | string[] | undefined>,
      readBody: async () => {
        const body = request.body as { payload?: Readable } | undefined;
        if (body?.payload === undefined) return undefined;
        return readNodeBody(
          Object.assign(body.payload, { headers: request.headers }),
          api.maxBodyBytes,
        );
      },
    });
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
  for (const url of ["/", "/*"]) {
    app.route({
      method: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      url,
      config: { keyguard: false },
      handler,
    });
  }
};

/**
 * Swagger UI for the admin API (needs the `swagger-ui-dist` package):
 * `await app.register(keyguardAdminDocs, { prefix: "/docs", openApiUrl: "/admin/openapi.json" })`.
 */
export const keyguardAdminDocs: FastifyPluginAsync<{ openApiUrl: string }> = async (
  app,
  options,
) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const answer = await adminDocsResponse(subPathOf(request), {
      openApiUrl: options.openApiUrl,
      mountPath: app.prefix,
    });
    if (answer === undefined) return reply.callNotFound();
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
  for (const url of ["/", "/*"]) app.get(url, { config: { keyguard: false } }, handler);
};

/** The path below the plugin's prefix, as the router matched it (its `/*` wildcard). */
function subPathOf(request: FastifyRequest): string {
  return `/${(request.params as { "*"?: string })["*"] ?? ""}`;
}
