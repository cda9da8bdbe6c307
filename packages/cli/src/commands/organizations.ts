import { toOrganizationWire } from "@keyguard/core/internal";
import { renderOrganizationTable } from "../output/org-table.js";
import { formatLimits, parseLimitOptions } from "../parse-values.js";
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
      "Set the windows all of an organization's keys share (--limit NAME=LIMIT/WINDOW, repeatable; --limit none for none)",
    )
    .option("--limit <name=limit/window>", "A window, e.g. --limit minute=5000/1m")
    .example('keyguard set-org-limits "Acme Corp" --limit minute=5000/1m --limit day=1000000/1d')
    .action((name: string) => {
      const texts = ctx.options("limit");
      if (texts.length === 0)
        throw new UsageError("set-org-limits needs --limit (or --limit none)");
      const limits = parseLimitOptions(texts);
      return ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        const org = await kg.setOrganizationLimits(String(name), limits);
        if (ctx.json) ctx.printJson(toOrganizationWire(org));
        else {
          const shown = formatLimits(org.limits);
          ctx.print(`Organization "${org.name}" limits: ${shown === "" ? "none" : shown}.`);
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
