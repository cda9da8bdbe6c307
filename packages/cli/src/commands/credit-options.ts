import type { CreditBalance, CreditsInput } from "@keyguard/core";
import type { CliContext } from "../cli-context.js";
import { formatCount, formatDateTime } from "../output/format.js";
import { parseWholeNumber } from "../parse-whole-number.js";
import { UsageError } from "../usage-error.js";

/**
 * `--credits N` (a fresh balance; `none` removes the credits) and `--refill N/daily` or
 * `N/monthly` (with `--credits`: a refill says what the balance is reset to, not what it is).
 */
export function readCreditOptions(ctx: CliContext): CreditsInput | null | undefined {
  const credits = ctx.option("credits");
  const refill = ctx.option("refill");
  if (credits === undefined) {
    if (refill !== undefined) {
      throw new UsageError("--refill needs --credits <n> (setting credits starts a fresh balance)");
    }
    return undefined;
  }
  if (/^none$/i.test(credits.trim())) {
    if (refill !== undefined) throw new UsageError("--refill cannot go with --credits none");
    return null;
  }
  const remaining = parseWholeNumber(credits, "--credits", { min: 0 });
  if (refill === undefined) return { remaining };
  const match = /^([^/]*)\/\s*(daily|monthly)\s*$/i.exec(refill);
  if (match === null) {
    throw new UsageError(
      `--refill must be <n>/daily or <n>/monthly, e.g. 1000/monthly (got ${refill.slice(0, 40)})`,
    );
  }
  return {
    remaining,
    refill: {
      amount: parseWholeNumber(match[1] as string, `the amount in --refill ${refill.trim()}`),
      interval: (match[2] as string).toLowerCase() as "daily" | "monthly",
    },
  };
}

export const CREDIT_OPTIONS = [
  [
    "--credits <n>",
    "Prepaid credits: a fresh balance of n, each request spends its cost ('none' removes them)",
  ],
  [
    "--refill <n/interval>",
    "With --credits: reset the balance to n daily (UTC midnight) or monthly (the 1st, UTC)",
  ],
] as const;

/** `7 of 10 left, refilled to 10 daily (next 2026-03-11 00:00 UTC)`. */
export function describeCredits(
  balance: CreditBalance,
  refill: { amount: number; interval: string } | null,
): string {
  const left = `${formatCount(balance.remaining)} of ${formatCount(balance.periodCredits)} left`;
  if (refill === null || balance.refillsAt === null) return left;
  return `${left}, refilled to ${formatCount(refill.amount)} ${refill.interval} (next ${formatDateTime(balance.refillsAt)} UTC)`;
}
