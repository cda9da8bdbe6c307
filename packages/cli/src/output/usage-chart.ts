import type { KeyUsage } from "@keyguard/core";
import type { Colors } from "./colors.js";
import { formatCount, formatDateTime } from "./format.js";

const BAR_WIDTH = 40;

/**
 * `usage`: one line per hour with a bar scaled to the busiest hour, the total and the
 * status-class breakdown.
 *
 * ```
 * 2026-04-22 14:00  ████████████████████▌   83  2xx 80 · 4xx 3
 * ```
 */
export function renderUsageChart(usage: KeyUsage, colors: Colors): string {
  const peak = Math.max(1, ...usage.buckets.map((b) => b.total));
  const countWidth = Math.max(...usage.buckets.map((b) => formatCount(b.total).length), 1);
  const lines = usage.buckets.map((bucket) => {
    const eighths = Math.round((bucket.total / peak) * BAR_WIDTH * 8);
    const bar = "█".repeat(Math.floor(eighths / 8)) + (PARTIAL[eighths % 8] ?? "");
    const errors = bucket.status4xx + bucket.status5xx;
    const paint = errors > 0 && errors * 2 >= bucket.total ? colors.red : colors.green;
    const breakdown = (
      [
        ["2xx", bucket.status2xx],
        ["3xx", bucket.status3xx],
        ["4xx", bucket.status4xx],
        ["5xx", bucket.status5xx],
      ] as const
    )
      .filter(([, n]) => n > 0)
      .map(([name, n]) => `${name} ${formatCount(n)}`)
      .join(" · ");
    return `${formatDateTime(bucket.hour)}  ${paint(bar.padEnd(BAR_WIDTH))}  ${formatCount(bucket.total).padStart(countWidth)}  ${colors.dim(breakdown)}`.trimEnd();
  });
  const total = usage.buckets.reduce((sum, b) => sum + b.total, 0);
  return [
    "",
    `Usage of ${usage.key.prefix} (${usage.key.label}, ${usage.key.organizationName}) since ${formatDateTime(usage.since)} UTC`,
    "",
    ...lines,
    "",
    `Total: ${formatCount(total)} request(s)`,
    "",
  ].join("\n");
}

const PARTIAL = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
