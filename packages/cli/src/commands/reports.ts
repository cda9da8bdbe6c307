import { toStatsWire, toUsageWire } from "@keyguard/core/internal";
import { renderStatsBox } from "../output/stats-box.js";
import { renderUsageChart } from "../output/usage-chart.js";
import { parseDurationOption } from "../parse-values.js";
import type { RegisterCommand } from "./command.js";

export const registerReportCommands: RegisterCommand = (cli, ctx) => {
  cli.command("stats", "Usage statistics").action(() =>
    ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
      const stats = await kg.stats();
      if (ctx.json) {
        // Shadow refusals are counted by each serving process (GET /admin/stats asks one);
        // this process serves nothing, so it has none to tell.
        const { shadow_refusals: _countedByServers, ...wire } = toStatsWire(stats);
        ctx.printJson(wire);
      } else ctx.print(renderStatsBox(stats));
    }),
  );

  cli
    .command("usage <key>", "Requests per hour for one key, by status class")
    .option("--since <duration>", "How far back to look (default 24h)")
    .action((reference: string) => {
      const sinceMs = parseDurationOption(ctx.option("since") ?? "24h", "--since");
      return ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
        const usage = await kg.usage(String(reference), { since: new Date(Date.now() - sinceMs) });
        if (ctx.json) ctx.printJson(toUsageWire(usage));
        else ctx.print(renderUsageChart(usage, ctx.colors));
      });
    });
};
