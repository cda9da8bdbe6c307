import type { Organization } from "@keyguard/core";
import { toOrganizationWire } from "@keyguard/core/internal";
import { renderOrganizationTable } from "../output/org-table.js";
import {
  formatConcurrency,
  formatLimits,
  parseConcurrencyOptions,
  parseLimitOptions,
} from "../parse-values.js";
import { UsageError } from "../usage-error.js";
import type { RegisterCommand } from "./command.js";

export const registerOrganizationCommands: RegisterCommand = (cli, ctx) => {
  cli
    .command("create-org <name>", "Create an organization")
    .example('keyguard create-org "Acme Corp"')
    .action((name: string) =>
      ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
        const org = await kg.createOrganization(String(name));
        if (ctx.json) ctx.printJson(toOrganizationWire(org));
        else ctx.print(`Created organization "${org.name}" (${org.id})`);
      }),
    );

  cli.command("list-orgs", "List organizations").action(() =>
    ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
      const [organizations, keys] = await Promise.all([kg.listOrganizations(), kg.listApiKeys()]);
      const keyCounts = new Map<string, number>();
      for (const key of keys) keyCounts.set(key.orgId, (keyCounts.get(key.orgId) ?? 0) + 1);
      if (ctx.json) {
        ctx.printList(
          organizations.map((org) => ({
            ...toOrganizationWire(org),
            key_count: keyCounts.get(org.id) ?? 0,
          })),
        );
      } else {
        ctx.print(renderOrganizationTable(organizations, keyCounts, ctx.colors));
      }
    }),
  );

  cli
    .command(
      "set-org-limits <name>",
      "Set the windows and the concurrency cap all of an organization's keys share (--limit NAME=LIMIT/WINDOW, repeatable, --limit none for none; --concurrency N, none for no cap)",
    )
    .option("--limit <name=limit/window>", "A window, e.g. --limit minute=5000/1m")
    .option(
      "--concurrency <n>",
      "Most requests in flight at once across the organization's keys, 1-10000 ('none' for no cap)",
    )
    .option(
      "--concurrency-mode <mode>",
      "enforce (default) or shadow: counts would-be refusals only",
    )
    .example('keyguard set-org-limits "Acme Corp" --limit minute=5000/1m --limit day=1000000/1d')
    .example('keyguard set-org-limits "Acme Corp" --concurrency 50')
    .action((name: string) => {
      const texts = ctx.options("limit");
      const concurrency = parseConcurrencyOptions(
        ctx.option("concurrency"),
        ctx.option("concurrency-mode"),
      );
      if (texts.length === 0 && concurrency === undefined) {
        throw new UsageError(
          "set-org-limits needs --limit (or --limit none) or --concurrency (or --concurrency none)",
        );
      }
      const limits = texts.length === 0 ? undefined : parseLimitOptions(texts);
      return ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        let org =
          limits === undefined ? undefined : await kg.setOrganizationLimits(String(name), limits);
        if (concurrency !== undefined) {
          org = await kg.setOrganizationConcurrency(String(name), concurrency);
        }
        const updated = org as Organization;
        if (ctx.json) ctx.printJson(toOrganizationWire(updated));
        else {
          const shown = [formatLimits(updated.limits), formatConcurrency(updated.concurrency)]
            .filter((part) => part !== "")
            .join(" ");
          ctx.print(`Organization "${updated.name}" limits: ${shown === "" ? "none" : shown}.`);
        }
      });
    });

  for (const [command, verb, status] of [
    [
      "suspend-org",
      "Suspend an organization: its keys are refused until it is reactivated",
      "suspended",
    ],
    ["activate-org", "Reactivate a suspended organization", "active"],
  ] as const) {
    cli.command(`${command} <name>`, verb).action((name: string) =>
      ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        const org =
          status === "suspended"
            ? await kg.suspendOrganization(String(name))
            : await kg.reactivateOrganization(String(name));
        if (ctx.json) ctx.printJson(toOrganizationWire(org));
        else ctx.printChange(`Organization "${org.name}" is now ${org.status}.`);
      }),
    );
  }
};
