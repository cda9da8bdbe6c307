import type { WebhookEndpoint } from "@keyguard/core";
import { toWebhookEndpointWire } from "@keyguard/core/internal";
import { formatDateTime } from "../output/format.js";
import { plainTable } from "../output/plain-table.js";
import { UsageError } from "../usage-error.js";
import type { RegisterCommand } from "./command.js";

function renderEndpoints(endpoints: readonly WebhookEndpoint[]): string {
  const table = plainTable(
    ["ID", "URL", "Events", "Created (UTC)"],
    [38, 44, 36, 18],
    endpoints.map((endpoint) => [
      endpoint.id,
      endpoint.url,
      endpoint.events.join(","),
      formatDateTime(endpoint.createdAt),
    ]),
  );
  return `\n${table}\n\nTotal: ${endpoints.length} endpoint(s)\n`;
}

/** `--events key.revoked,ip.auto_blocked`: names separated by commas (core checks them). */
function eventsOption(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "") {
    throw new UsageError("add-webhook needs --events <names> (comma-separated, or *)");
  }
  const names = text.split(",").map((name) => name.trim());
  if (names.some((name) => name === "")) {
    throw new UsageError(`--events must be event names separated by commas (got "${text}")`);
  }
  return names;
}

export const registerWebhookCommands: RegisterCommand = (cli, ctx) => {
  cli
    .command(
      "add-webhook <url>",
      "Register a webhook endpoint (its signing secret is printed once)",
    )
    .option("--events <names>", "Event types, comma-separated, or * for all (required)")
    .example(
      "keyguard add-webhook https://example.com/hooks/keyguard --events key.revoked,ip.auto_blocked",
    )
    .action((url: string) => {
      const events = eventsOption(ctx.option("events"));
      // The secret key seals the signing secret at rest, so it is needed here.
      return ctx.withKeyGuard({ needsSecret: true }, async (kg) => {
        const { endpoint, secret } = await kg.webhooks.create({ url: String(url), events });
        if (ctx.json) return ctx.printJson({ ...toWebhookEndpointWire(endpoint), secret });
        ctx.print(
          [
            `Added webhook endpoint ${endpoint.id}`,
            `  URL:     ${endpoint.url}`,
            `  Events:  ${endpoint.events.join(", ")}`,
            `  Secret:  ${ctx.colors.bold(secret)}`,
            "",
            ctx.colors.yellow(
              "This is the only time the signing secret is shown: it will not be shown again. Store it with the receiver now.",
            ),
          ].join("\n"),
        );
      });
    });

  cli.command("list-webhooks", "List webhook endpoints (never their secrets)").action(() =>
    ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
      const endpoints = await kg.webhooks.list();
      if (ctx.json) ctx.printList(endpoints.map(toWebhookEndpointWire));
      else ctx.print(renderEndpoints(endpoints));
    }),
  );

  cli
    .command("remove-webhook <id>", "Remove a webhook endpoint and its pending deliveries")
    .action((id: string) =>
      ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
        const endpoint = await kg.webhooks.remove(String(id));
        if (ctx.json) return ctx.printJson(toWebhookEndpointWire(endpoint));
        ctx.print(`Removed webhook endpoint ${endpoint.id} (${endpoint.url}).`);
      }),
    );
};
