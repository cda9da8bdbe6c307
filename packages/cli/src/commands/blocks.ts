import type { IpBlock } from "@keyguard/core";
import { toIpBlockWire } from "@keyguard/core/internal";
import { formatDateTime } from "../output/format.js";
import { plainTable } from "../output/plain-table.js";
import { parseDurationOption } from "../parse-values.js";
import type { RegisterCommand } from "./command.js";

function renderBlocks(blocks: readonly IpBlock[]): string {
  const table = plainTable(
    ["Client", "Scope", "Path", "Until (UTC)", "Reason"],
    [30, 7, 24, 17, 30],
    blocks.map((b) => [
      b.client,
      b.scope,
      b.path ?? "*",
      formatDateTime(new Date(b.untilMs)),
      b.automatic === true ? `${b.reason} (automatic)` : b.reason,
    ]),
  );
  return `\n${table}\n\nTotal: ${blocks.length} block(s)\n`;
}

export const registerBlockCommands: RegisterCommand = (cli, ctx) => {
  cli
    .command("block-ip <ip>", "Block an IP everywhere KeyGuard protects (or on one path)")
    .option("--duration <duration>", "How long (default 24h; e.g. 30m, 1 hour, 7d)")
    .option("--path <path>", "Block only this path (e.g. /api/withdraw)")
    .option("--reason <text>", "Recorded with the block (default: manual)")
    .example("keyguard block-ip 203.0.113.7 --duration 1h --reason 'card testing'")
    .action((ip: string) => {
      const duration = ctx.option("duration");
      const durationMs =
        duration === undefined ? undefined : parseDurationOption(duration, "--duration");
      const path = ctx.option("path");
      return ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        const block = await kg.blockIp(String(ip), {
          ...(durationMs === undefined ? {} : { duration: `${durationMs}ms` }),
          ...(path === undefined ? {} : { scope: "path" as const, path }),
          ...(ctx.option("reason") === undefined ? {} : { reason: ctx.option("reason") }),
        });
        if (ctx.json) return ctx.printJson(toIpBlockWire(block));
        const where = block.scope === "path" ? `on ${block.path}` : "everywhere";
        ctx.printChange(
          `Blocked ${block.client} ${where} until ${formatDateTime(new Date(block.untilMs))} UTC.`,
        );
      });
    });

  cli.command("unblock-ip <ip>", "Lift every block on an IP").action((ip: string) =>
    ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
      const lifted = await kg.unblockIp(String(ip));
      if (ctx.json) return ctx.printJson({ ip: String(ip), unblocked: lifted });
      if (lifted) ctx.printChange(`Unblocked ${ip}.`);
      else ctx.print(`${ip} was not blocked.`);
    }),
  );

  cli.command("list-blocks", "List IP blocks in force").action(() =>
    ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
      const blocks = await kg.listBlocks();
      if (ctx.json) ctx.printJson({ items: blocks.map(toIpBlockWire) });
      else ctx.print(renderBlocks(blocks));
    }),
  );
};
