import type { EventAction, KeyGuard, KeyGuardEvent } from "@keyguard/core";
import { toAuditEventWire } from "@keyguard/core/internal";
import { renderAuditTable } from "../output/audit-table.js";
import { parseDurationOption } from "../parse-values.js";
import { parseWholeNumber } from "../parse-whole-number.js";
import { UsageError } from "../usage-error.js";
import type { RegisterCommand } from "./command.js";

/** Events read per query while listing (a page of the store's). */
const PAGE = 1_000;

/** `--since` / `--until`: a duration back from now (`24h`, `7d`) or a time (`2026-03-01`). */
function parseTimeOption(text: string, flag: string, now: number): Date {
  const value = text.trim();
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      throw new UsageError(`${flag} "${text}" is not a valid time (use 2026-03-01 or 7d)`);
    }
    return date;
  }
  return new Date(now - parseDurationOption(value, flag));
}

/** Every event the filter selects (at most `limit`), oldest first, read a page at a time. */
async function readAll(
  kg: KeyGuard,
  filter: Parameters<KeyGuard["listAuditEvents"]>[0],
  limit: number | undefined,
): Promise<KeyGuardEvent[]> {
  const events: KeyGuardEvent[] = [];
  let afterId: string | undefined;
  for (;;) {
    const wanted = limit === undefined ? PAGE : Math.min(PAGE, limit - events.length);
    if (wanted <= 0) return events;
    const page = await kg.listAuditEvents({
      ...filter,
      limit: wanted,
      ...(afterId === undefined ? {} : { afterId }),
    });
    events.push(...page);
    if (page.length < wanted) return events;
    afterId = page.at(-1)?.id;
  }
}

export const registerAuditCommand: RegisterCommand = (cli, ctx) => {
  cli
    .command("audit", "The audit log: who changed what, oldest first")
    .option("--action <actions>", "Only these actions, comma-separated (e.g. key.revoked)")
    .option("--key <key>", "Only events about this key (id, display prefix or raw key)")
    .option("--target <id>", "Only events about this id or client address")
    .option("--since <when>", "Only events since then: a duration back (24h, 7d) or a time")
    .option("--until <when>", "Only events before then: a duration back or a time")
    .option("--limit <n>", "At most this many events")
    .example("keyguard audit --action key.revoked,key.rotated --since 7d")
    .action(() => {
      const now = Date.now();
      const action = ctx.option("action");
      const since = ctx.option("since");
      const until = ctx.option("until");
      const limitText = ctx.option("limit");
      const limit = limitText === undefined ? undefined : parseWholeNumber(limitText, "--limit");
      const key = ctx.option("key");
      const target = ctx.option("target");
      if (key !== undefined && target !== undefined) {
        throw new UsageError("give --key or --target, not both");
      }
      const filter = {
        ...(action === undefined
          ? {}
          : { action: action.split(",").map((name) => name.trim()) as EventAction[] }),
        ...(since === undefined ? {} : { since: parseTimeOption(since, "--since", now) }),
        ...(until === undefined ? {} : { until: parseTimeOption(until, "--until", now) }),
        ...(target === undefined ? {} : { targetId: target }),
      };
      return ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
        // A key reference is resolved as every key command resolves it (core decides).
        const targetId = key === undefined ? undefined : (await kg.getApiKey(key)).id;
        const events = await readAll(
          kg,
          { ...filter, ...(targetId === undefined ? {} : { targetId }) },
          limit,
        );
        if (ctx.json) ctx.printList(events.map(toAuditEventWire));
        else ctx.print(renderAuditTable(events));
      });
    });
};
