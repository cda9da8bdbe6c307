import {
  type KeyGuard,
  KeyGuardError,
  WEBHOOK_EVENT_TYPES,
  type WebhookDelivery,
  type WebhookEndpoint,
} from "@keyguard/core";
import {
  MAX_WEBHOOK_EVENTS,
  MAX_WEBHOOK_URL_LENGTH,
  toWebhookDeliveryWire,
  toWebhookEndpointWire,
} from "@keyguard/core/internal";
import { z } from "zod";
import type { AdminRoute } from "./admin-routes.js";
import { pageQuery, toPage } from "./pagination.js";
import { noQuery } from "./request-schemas.js";
import { pageWire } from "./wire-format.js";

/**
 * The admin API's webhook operations: register an endpoint (its signing secret in that
 * answer only), list and remove endpoints, and read an endpoint's deliveries. Shapes are
 * checked here; values (URL, event names, counts) by core, as for the CLI.
 */

const timestamp = z.iso.datetime({ offset: true }).describe("ISO 8601 time (UTC)");
const eventTypes = `One of ${WEBHOOK_EVENT_TYPES.join(", ")}; or * for every event`;

export const createWebhookBody = z
  .strictObject({
    url: z
      .string({ error: "url must be a string" })
      .describe(
        `Where events are POSTed: http:// or https://, at most ${MAX_WEBHOOK_URL_LENGTH} characters, no user name or password, no fragment`,
      ),
    events: z
      .array(z.string({ error: "each event must be a string" }).describe(eventTypes), {
        error: "events must be a list of event names",
      })
      .describe(`1 to ${MAX_WEBHOOK_EVENTS} event types`),
  })
  .meta({ id: "CreateWebhook" });

const listQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d+$/, "limit must be a whole number")
    .transform(Number)
    .pipe(z.number().min(1, "limit must be at least 1").max(200, "limit must be at most 200"))
    .optional(),
  cursor: z.string().optional(),
});

export const webhookEndpointWire = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.string()),
    created_at: timestamp,
  })
  .meta({ id: "WebhookEndpoint" });

export const createdWebhookEndpointWire = webhookEndpointWire
  .extend({
    secret: z
      .string()
      .describe(
        'The signing secret (KeyGuard-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">). Shown this once.',
      ),
  })
  .meta({ id: "CreatedWebhookEndpoint" });

export const webhookDeliveryWire = z
  .object({
    id: z.uuid(),
    event_id: z.string().describe("The event's id: the same in every attempt (drop repeats by it)"),
    event_type: z.string(),
    status: z
      .enum(["pending", "delivered", "failed"])
      .describe("failed: still not delivered when the retry window (about 24 h) ended"),
    attempts: z.array(
      z.object({
        attempt: z.int(),
        started_at: timestamp,
        duration_ms: z.int(),
        status_code: z.int().nullable().describe("null when no response came"),
        error: z.string().nullable().describe("Why the attempt failed; null when delivered"),
      }),
    ),
    created_at: timestamp,
    next_attempt_at: timestamp.nullable(),
    delivered_at: timestamp.nullable(),
  })
  // No component id of its own: it only appears inside WebhookDeliveryPage.
  .describe("One event's delivery to an endpoint, with every attempt");

toWebhookEndpointWire satisfies (endpoint: WebhookEndpoint) => z.infer<typeof webhookEndpointWire>;
toWebhookDeliveryWire satisfies (delivery: WebhookDelivery) => z.infer<typeof webhookDeliveryWire>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function webhookId(params: Readonly<Record<string, string>>): string {
  const id = params.id ?? "";
  if (!UUID.test(id))
    throw new KeyGuardError("webhook_not_found", "No webhook endpoint has this id.");
  return id;
}

export const WEBHOOK_ROUTES: readonly AdminRoute[] = [
  {
    method: "POST",
    path: "/webhooks",
    operationId: "createWebhook",
    summary: "Register a webhook endpoint (its signing secret is in this response only)",
    description:
      "Events of the subscribed types are POSTed to the URL as JSON `{id, type, created_at, data}`, signed in the `KeyGuard-Signature` header, at least once, retried with exponential backoff for about 24 hours. At most 100 endpoints.",
    tag: "Webhooks",
    status: 201,
    query: noQuery,
    body: createWebhookBody,
    response: createdWebhookEndpointWire,
    run: async (kg: KeyGuard, { body }) => {
      const input = body as z.infer<typeof createWebhookBody>;
      const { endpoint, secret } = await kg.webhooks.create(input);
      return { ...toWebhookEndpointWire(endpoint), secret };
    },
  },
  {
    method: "GET",
    path: "/webhooks",
    operationId: "listWebhooks",
    summary: "List webhook endpoints (oldest first, paginated; never their secrets)",
    tag: "Webhooks",
    status: 200,
    query: listQuery,
    response: pageWire(webhookEndpointWire, "WebhookEndpointPage"),
    run: async (kg, { query }) => {
      const page = pageQuery(query as z.infer<typeof listQuery>);
      return toPage(await kg.webhooks.list(page), page, toWebhookEndpointWire);
    },
  },
  {
    method: "DELETE",
    path: "/webhooks/{id}",
    operationId: "deleteWebhook",
    summary: "Remove a webhook endpoint and its deliveries (pending ones are not sent)",
    tag: "Webhooks",
    status: 200,
    query: noQuery,
    response: webhookEndpointWire,
    run: async (kg, { params }) =>
      toWebhookEndpointWire(await kg.webhooks.remove(webhookId(params))),
  },
  {
    method: "GET",
    path: "/webhooks/{id}/deliveries",
    operationId: "listWebhookDeliveries",
    summary: "An endpoint's deliveries with every attempt (newest first, paginated)",
    tag: "Webhooks",
    status: 200,
    query: listQuery,
    response: pageWire(webhookDeliveryWire, "WebhookDeliveryPage"),
    run: async (kg, { params, query }) => {
      const page = pageQuery(query as z.infer<typeof listQuery>);
      const read = await kg.webhooks.deliveries(webhookId(params), page);
      return toPage(read, page, toWebhookDeliveryWire);
    },
  },
];
