import type { IpRule } from "@keyguard/core";
import { toIpRuleWire } from "@keyguard/core/internal";
import { formatDateTime } from "../output/format.js";
import { plainTable } from "../output/plain-table.js";
import type { RegisterCommand } from "./command.js";

function renderRules(rules: readonly IpRule[]): string {
  const table = plainTable(
    ["ID", "Action", "CIDR", "Source", "Created (UTC)", "Reason"],
    [36, 6, 43, 6, 16, 30],
    rules.map((rule) => [
      rule.id ?? "-",
      rule.action,
      rule.cidr,
      rule.source,
      formatDateTime(rule.createdAt),
      rule.reason ?? "",
    ]),
  );
  return `\n${table}\n\nTotal: ${rules.length} rule(s)\n`;
}

/** `allow-ip`, `deny-ip`, `list-ip-rules`, `remove-ip-rule`: the stored IP rules. */
export const registerIpRuleCommands: RegisterCommand = (cli, ctx) => {
  for (const action of ["allow", "deny"] as const) {
    cli
      .command(
        `${action}-ip <cidr>`,
        action === "allow"
          ? "Never limit or block an address or CIDR range (health checkers, internal networks)"
          : "Refuse every request from an address or CIDR range (403 ip_denied)",
      )
      .option("--reason <text>", "Recorded with the rule")
      .example(
        action === "allow"
          ? "keyguard allow-ip 10.0.0.0/8 --reason 'internal network'"
          : "keyguard deny-ip 198.51.100.0/24 --reason scraper",
      )
      .action((cidr: string) => {
        const reason = ctx.option("reason");
        return ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
          const { rule, created } = await kg.addIpRule({
            // cac turns numeric-looking text into numbers, but no such text is a CIDR.
            cidr: String(cidr),
            action,
            ...(reason === undefined ? {} : { reason }),
          });
          if (ctx.json) return ctx.printJson({ ...toIpRuleWire(rule), created });
          const verb = action === "allow" ? "Allowed" : "Denied";
          ctx.print(
            created
              ? `${verb} ${rule.cidr} (rule ${rule.id}).`
              : `${rule.cidr} already had this rule (rule ${rule.id}); nothing changed.`,
          );
        });
      });
  }

  cli.command("list-ip-rules", "List IP allow and deny rules").action(() =>
    ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
      const rules = await kg.listIpRules();
      if (ctx.json) ctx.printJson({ items: rules.map(toIpRuleWire) });
      else ctx.print(renderRules(rules));
    }),
  );

  cli.command("remove-ip-rule <id>", "Remove a stored IP rule (by its id)").action((id: string) =>
    ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
      const rule = await kg.removeIpRule(String(id));
      if (ctx.json) return ctx.printJson(toIpRuleWire(rule));
      ctx.print(`Removed the ${rule.action} rule for ${rule.cidr}.`);
    }),
  );
};
