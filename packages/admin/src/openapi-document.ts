import { z } from "zod";
import type { AdminRoute } from "./admin-routes.js";
import {
  auditEventWire,
  listedOrganizationWire,
  policyStatusWire,
  problemWire,
} from "./wire-format.js";

/** Which problems each kind of operation can answer with, for the document. */
function problemStatuses(route: AdminRoute): number[] {
  const statuses = new Set([401, 403, 503]);
  if (route.body !== undefined || route.method === "GET") statuses.add(400);
  if (route.path.includes("{")) statuses.add(404);
  if (route.body !== undefined) {
    statuses.add(413);
    statuses.add(415);
  }
  if (route.conflict !== undefined) statuses.add(409);
  return [...statuses].sort();
}

const DESCRIPTIONS: Record<number, string> = {
  400: "Invalid input (the detail names the field)",
  401: "Missing or wrong X-Admin-Key",
  403: "This client is blocked",
  404: "No such organization, key or IP block",
  413: "Body larger than the limit",
  415: "Body is not JSON",
  503: "Database or limiter unavailable",
};

/**
 * The OpenAPI 3.1 document of the admin API, generated from the route table and the same
 * zod schemas that validate requests (zod's JSON Schema output is draft 2020-12, which is
 * what OpenAPI 3.1 uses), so the document cannot drift from the behaviour.
 */
export function buildOpenApiDocument(
  routes: readonly AdminRoute[],
  prefix: string,
): Record<string, unknown> {
  // One registry, so shared schemas (ApiKey, Problem, ...) become components, referenced.
  const registry = z.registry<{ id?: string }>();
  const register = (schema: z.ZodType) => {
    const id = (schema.meta() as { id?: string } | undefined)?.id;
    if (id !== undefined && !registry.has(schema)) registry.add(schema, { id });
  };
  register(problemWire);
  // Named schemas that appear only inside another (a page's items) must be registered
  // themselves, or zod leaves their references pointing nowhere.
  register(auditEventWire);
  register(listedOrganizationWire);
  register(policyStatusWire);
  for (const route of routes) {
    register(route.response);
    if (route.body !== undefined) register(route.body);
  }
  const { schemas } = z.toJSONSchema(registry, {
    uri: (id) => `#/components/schemas/${id}`,
    io: "input",
    unrepresentable: "any",
  }) as { schemas: Record<string, Record<string, unknown>> };
  const ref = (schema: z.ZodType) => {
    const id = (schema.meta() as { id?: string } | undefined)?.id;
    return id !== undefined ? { $ref: `#/components/schemas/${id}` } : z.toJSONSchema(schema);
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters: unknown[] = [];
    for (const match of route.path.matchAll(/\{(\w+)\}/g)) {
      parameters.push({
        name: match[1],
        in: "path",
        required: true,
        schema: match[1] === "id" ? { type: "string", format: "uuid" } : { type: "string" },
      });
    }
    const query = z.toJSONSchema(route.query, { io: "input", unrepresentable: "any" }) as {
      properties?: Record<string, Record<string, unknown>>;
    };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      parameters.push({
        name,
        in: "query",
        required: false,
        schema,
        ...(typeof schema.description === "string" ? { description: schema.description } : {}),
      });
    }
    const responses: Record<string, unknown> = {
      [route.status]: {
        description: route.summary,
        content: { "application/json": { schema: ref(route.response) } },
      },
    };
    for (const [status, description] of Object.entries(route.alsoAnswers ?? {})) {
      responses[status] = {
        description,
        content: { "application/json": { schema: ref(route.response) } },
      };
    }
    for (const status of problemStatuses(route)) {
      responses[status] = {
        description: (status === 409 ? route.conflict : DESCRIPTIONS[status]) ?? "Error",
        content: { "application/problem+json": { schema: ref(problemWire) } },
      };
    }
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      tags: [route.tag],
      parameters,
      responses,
    };
    if (route.body !== undefined) {
      operation.requestBody = {
        required: !route.optionalBody,
        content: { "application/json": { schema: ref(route.body) } },
      };
    }
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operation;
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "KeyGuard Admin API",
      version: "1",
      description:
        "Manage organizations, API keys, usage, IP blocks and IP rules. Every operation needs the X-Admin-Key header. Errors are RFC 9457 problems (application/problem+json) with a stable `code`.",
    },
    servers: [{ url: prefix }],
    security: [{ adminKey: [] }],
    tags: ["Organizations", "Keys", "Usage", "IP blocks", "IP rules", "Audit", "Webhooks"].map(
      (name) => ({
        name,
      }),
    ),
    paths,
    components: {
      schemas,
      securitySchemes: { adminKey: { type: "apiKey", in: "header", name: "X-Admin-Key" } },
    },
  };
}
