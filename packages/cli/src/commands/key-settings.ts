import type { UpdateApiKeyInput } from "@keyguard/core";
import type { CliContext } from "../cli-context.js";
import {
  parseConcurrencyOptions,
  parseExpiry,
  parseLimitOptions,
  parseScopes,
} from "../parse-values.js";
import { parseWholeNumber } from "../parse-whole-number.js";
import { readAllowedIps } from "./allowed-ips-option.js";
import { CREDIT_OPTIONS, readCreditOptions } from "./credit-options.js";

/**
 * The key settings shared by `create-key` and `update-key`, read from the exact text of
 * `--label`, `--rate-limit`, `--monthly-limit`, `--limit`, `--concurrency`, `--scopes` and
 * `--expires`. `--monthly-limit none`, `--concurrency none` and `--expires never` clear a value.
 */
export function readKeySettings(ctx: CliContext, now: number): UpdateApiKeyInput {
  const settings: { -readonly [K in keyof UpdateApiKeyInput]: UpdateApiKeyInput[K] } = {};
  const label = ctx.option("label");
  if (label !== undefined) settings.label = label;
  const rate = ctx.option("rate-limit");
  if (rate !== undefined) settings.rateLimitPerMinute = parseWholeNumber(rate, "--rate-limit");
  const monthly = ctx.option("monthly-limit");
  if (monthly !== undefined) {
    settings.monthlyLimit = /^(none|unlimited)$/i.test(monthly.trim())
      ? null
      : parseWholeNumber(monthly, "--monthly-limit");
  }
  const scopes = ctx.option("scopes");
  if (scopes !== undefined) settings.scopes = parseScopes(scopes);
  const limits = ctx.options("limit");
  if (limits.length > 0) settings.limits = parseLimitOptions(limits);
  const concurrency = parseConcurrencyOptions(
    ctx.option("concurrency"),
    ctx.option("concurrency-mode"),
  );
  if (concurrency !== undefined) settings.concurrency = concurrency;
  const expires = ctx.option("expires");
  if (expires !== undefined) settings.expiresAt = parseExpiry(expires, now);
  const allowedIps = readAllowedIps(ctx);
  if (allowedIps !== undefined) settings.allowedIps = allowedIps;
  const credits = readCreditOptions(ctx);
  if (credits !== undefined) settings.credits = credits;
  return settings;
}

export const KEY_SETTING_OPTIONS = [
  ["--rate-limit <per-minute>", "Requests per minute (default: the configured default, 60)"],
  ["--monthly-limit <n>", "Requests per calendar month, UTC ('none' for no quota)"],
  [
    "--limit <name=limit/window>",
    "A named window, repeatable: --limit burst=10/1s --limit day=10000/1d:gcra (:shadow to only count; 'none' for none)",
  ],
  [
    "--concurrency <n>",
    "Most requests in flight at once, 1-10000 (past it: 429 concurrency_limited; 'none' for no cap)",
  ],
  ["--concurrency-mode <mode>", "enforce (default) or shadow: counts would-be refusals only"],
  ["--scopes <a,b>", "Comma-separated scopes"],
  ["--expires <when>", "A duration from now (30d, 12h), a date (2027-01-31) or 'never'"],
  [
    "--allowed-ip <cidr>",
    "Usable only from this address or CIDR (repeatable; 'any' lifts the restriction)",
  ],
  ...CREDIT_OPTIONS,
] as const;
