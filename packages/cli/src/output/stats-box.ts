import type { KeyGuardStats } from "@keyguard/core";
import { formatCount, formatPercent } from "./format.js";

const TITLE = "KeyGuard Statistics";

/** keyguard-python's double-lined statistics box; it widens if a number needs more room. */
export function renderStatsBox(stats: KeyGuardStats): string {
  const rows: [string, string][] = [
    ["Organizations:", formatCount(stats.organizations)],
    ["Total Keys:", formatCount(stats.totalKeys)],
    ["Active Keys:", formatCount(stats.activeKeys)],
    ["Total Requests:", formatCount(stats.totalRequests)],
    ["Requests (1h):", formatCount(stats.requestsLastHour)],
    ["Error Rate:", formatPercent(stats.errorRate)],
  ];
  // Only while imported keys wait for their first use, or keys made before a secret
  // rotation are in use: keyguard-python's box has six lines.
  if (stats.legacyHashKeys > 0) rows.push(["Legacy Hashes:", formatCount(stats.legacyHashKeys)]);
  if (stats.previousSecretKeys > 0) {
    rows.push(["Old-Secret Keys:", formatCount(stats.previousSecretKeys)]);
  }
  const lines = rows.map(([label, value]) => `  ${label.padEnd(18)}${value}`);
  const width = Math.max(38, ...lines.map((line) => line.length + 2));
  // keyguard-python sets the title one space left of centre.
  const titlePad = Math.floor((width - TITLE.length) / 2) - 1;
  const title = " ".repeat(titlePad) + TITLE;
  const rule = "═".repeat(width);
  return [
    "",
    `╔${rule}╗`,
    `║${title.padEnd(width)}║`,
    `╠${rule}╣`,
    ...lines.map((line) => `║${line.padEnd(width)}║`),
    `╚${rule}╝`,
    "",
  ].join("\n");
}
